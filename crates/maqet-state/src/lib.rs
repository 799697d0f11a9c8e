//! maqet-state (work in progress).
