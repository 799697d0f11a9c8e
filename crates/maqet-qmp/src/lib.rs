//! maqet-qmp (work in progress).
