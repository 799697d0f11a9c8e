//! maqet-core (work in progress).
