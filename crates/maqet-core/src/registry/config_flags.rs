//! The VM config keys a [`ConfigOverrides`](super::ConfigOverrides) parameter offers as flags
//! (`--memory 4G`), and how a flag's text becomes the key's value.

use serde_json::Value;

use crate::config::{CONFIG_KEYS, ConfigKey, KeyType};
use crate::settings::Settings;

/// The config keys offered as `--KEY VALUE` flags. The VM name is not one: commands take it
/// as their own argument (`add --name`, `apply VM`).
pub fn config_flag_keys() -> impl Iterator<Item = &'static ConfigKey> {
    CONFIG_KEYS.iter().filter(|k| k.kind != KeyType::Name)
}

/// The value of a config-key flag as typed by a caller: a program given as a path is taken
/// against the caller's working directory, so it names the same file wherever the VM starts.
pub fn config_flag_value(key: &ConfigKey, text: &str) -> Value {
    if key.kind == KeyType::Program && text.contains('/') {
        let path = crate::config::absolute(std::path::Path::new(text));
        return Value::String(path.to_string_lossy().into_owned());
    }
    Value::String(text.to_string())
}

/// The config keys `maqet.conf` gives defaults for under `commands.<command>` (`accel: tcg`)
/// that `config` leaves unset, as flag values: what a new VM gets when neither its files nor
/// its flags say.
pub fn conf_defaults_for_unset(
    settings: &Settings,
    command: &str,
    config: &Value,
) -> serde_json::Map<String, Value> {
    config_flag_keys()
        .filter(|key| config.get(key.name).is_none_or(Value::is_null))
        .filter_map(|key| {
            let text = settings.command_default(command, &key.name.replace('_', "-"))?;
            Some((key.name.to_string(), config_flag_value(key, text)))
        })
        .collect()
}
