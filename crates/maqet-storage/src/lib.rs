//! maqet-storage (work in progress).
