//! maqet-plugin-api (work in progress).
