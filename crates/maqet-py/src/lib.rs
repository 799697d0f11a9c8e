//! `maqet._maqet`: the native module of the `maqet` Python package.
//!
//! Every method is a thin call into `maqet_core` made on a thread of its own with the GIL
//! released (see [`worker`]); results come back as the dicts, lists and strings of the Python API
//! reference, and errors as the classes of `maqet.exceptions` (see [`errors`]).

mod api;
mod convert;
mod errors;
mod faces;
mod instance;
mod worker;

use pyo3::prelude::*;

#[pymodule]
fn _maqet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Keeps core's command registrations linked into this library.
    let count = maqet_core::linked_command_count();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("_command_count", count)?;
    m.add_class::<api::PyMaqet>()?;
    m.add_class::<instance::VMInstance>()?;
    m.add_function(wrap_pyfunction!(api::commands, m)?)?;
    Ok(())
}
