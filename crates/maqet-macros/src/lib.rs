//! maqet-macros (work in progress).
