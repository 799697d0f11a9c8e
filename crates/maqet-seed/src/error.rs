//! Errors of seed building.

/// A seed could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The ISO writer refused the files.
    #[error("cannot build the cloud-init seed ISO image")]
    BuildIso {
        /// The ISO writer's error.
        #[source]
        source: hadris_iso::write::IsoCreationError,
    },
}
