//! `maqet config ...`: checking config files and describing the format.

use std::path::PathBuf;

use maqet_macros::{api_method, api_requests};
use serde::Serialize;

use crate::config;
use crate::registry::CommandOutput;
use crate::{Maqet, MaqetError};

/// `config validate`: the files checked and the merged result.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    /// The files, in merge order.
    pub files: Vec<PathBuf>,
    /// The merged config they produce.
    pub merged: serde_json::Value,
}

impl CommandOutput for ValidationReport {
    fn human(&self) -> Option<String> {
        let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        Some(format!("valid: {}", names.join(", ")))
    }
}

/// Markdown text printed as it is.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Markdown(pub String);

impl CommandOutput for Markdown {
    fn human(&self) -> Option<String> {
        Some(self.0.trim_end().to_string())
    }
}

#[api_requests]
impl Maqet {
    /// Check VM config files without adding anything.
    ///
    /// Each file is checked on its own (errors name file, line and column), then the files are
    /// merged left to right and the result is checked too.
    #[api_method(
        group = "config",
        group_about = "Validate VM config files and print their schema",
        examples = ["maqet config validate vm.yaml", "maqet config validate base.yaml override.yaml"]
    )]
    pub fn validate(
        &self,
        #[arg(positional, help = "YAML config files", value_name = "FILE")] files: Vec<PathBuf>,
    ) -> Result<ValidationReport, MaqetError> {
        if files.is_empty() {
            return Err(MaqetError::invalid(
                "give at least one config file to validate",
            ));
        }
        let built = config::build_config(&files, &serde_json::Map::new())?;
        Ok(ValidationReport {
            files: built.files,
            merged: built.value,
        })
    }

    /// Print the JSON Schema of VM config files (for editors and CI checks).
    #[api_method(group = "config", examples = ["maqet config schema > maqet-vm.schema.json"])]
    pub fn schema(&self) -> Result<serde_json::Value, MaqetError> {
        Ok(config::schema::config_schema())
    }

    /// Print the configuration reference (docs/configuration.md) generated from the declared keys.
    #[api_method(group = "config", hidden, examples = ["maqet config docs > docs/configuration.md"])]
    pub fn docs(&self) -> Result<Markdown, MaqetError> {
        Ok(Markdown(config::docs::configuration_markdown()))
    }
}
