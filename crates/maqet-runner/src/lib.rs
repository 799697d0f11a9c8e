//! maqet-runner (work in progress).
