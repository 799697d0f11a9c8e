//! QMP message types: what a server sends, what a client sends.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::types::QemuVersion;

/// Input that could not be understood as a QMP message; the stream itself stays usable.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The bytes are not JSON (or break a size limit); `desc` is what QEMU answers to them.
    #[error("the QMP peer sent input that is not a JSON value ({desc}); it was skipped")]
    Json {
        /// QEMU's description, e.g. `"JSON parse error, expecting value"`.
        desc: String,
    },
    /// The line is not JSON.
    #[error("a QMP line is not valid JSON; it was skipped")]
    NotJson(#[source] serde_json::Error),
    /// The line is JSON, but not an object.
    #[error("a QMP message must be a JSON object, but this line is a JSON {found}; it was skipped")]
    NotAnObject {
        /// The JSON type that was found instead ("array", "string", ...).
        found: &'static str,
    },
    /// The object has none of the keys that identify a server message.
    #[error(
        "a QMP message has none of the keys `QMP`, `return`, `error`, `event` (keys: {keys}); it was skipped"
    )]
    UnknownMessage {
        /// The keys the object had, comma-separated.
        keys: String,
    },
    /// A message of a known kind has fields of the wrong type.
    #[error("a QMP {kind} message has fields of the wrong type; it was skipped")]
    BadShape {
        /// Which kind of message ("greeting", "event", "command").
        kind: &'static str,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A command object without a string `execute` key.
    #[error("a QMP command needs a string `execute` key naming the command")]
    MissingExecute,
    /// The first message from a server was not the `{"QMP": ...}` greeting.
    #[error(
        "the QMP server's first message was a {found}, not the greeting; is this really a QMP socket?"
    )]
    NotGreeting {
        /// What was received instead.
        found: &'static str,
    },
}

/// When QEMU emitted an event (seconds and microseconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamp {
    /// Whole seconds since the Unix epoch.
    pub seconds: i64,
    /// Microseconds within the second.
    pub microseconds: i64,
}

/// An asynchronous event from QEMU, such as `STOP`, `RESUME` or `JOB_STATUS_CHANGE`.
///
/// Event names are plain strings: an event this crate has never heard of is still delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QmpEvent {
    /// The event name, e.g. `"SHUTDOWN"`.
    pub event: String,
    /// The event's `data` object, or `Null` when QEMU sent none.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// When QEMU emitted the event, if it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// The `{"QMP": ...}` greeting a server sends first: QEMU's version and its capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Greeting {
    /// The QEMU version announced by the server.
    pub version: QemuVersion,
    /// Optional protocol capabilities the server offers (QEMU 7.2 offers `"oob"`).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// One message from a QMP server to a client.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// The greeting, sent once when a client connects.
    Greeting(Greeting),
    /// A successful reply; `id` echoes the command's `id`.
    Return {
        /// The command's `id`, if it had one.
        id: Option<Value>,
        /// The `return` value.
        ret: Value,
    },
    /// A failed reply; `id` echoes the command's `id`.
    Error {
        /// The command's `id`, if it had one.
        id: Option<Value>,
        /// The error class, e.g. `"GenericError"` or `"CommandNotFound"`.
        class: String,
        /// QEMU's human-readable description.
        desc: String,
    },
    /// An asynchronous event.
    Event(QmpEvent),
}

impl ServerMessage {
    /// Parses one message's bytes (one JSON object); unknown fields are ignored.
    pub fn parse(line: &[u8]) -> Result<Self, WireError> {
        Self::from_object(parse_object(line)?)
    }

    /// Interprets one decoded JSON value (from [`JsonDecoder`](super::JsonDecoder)).
    pub fn from_value(value: Value) -> Result<Self, WireError> {
        match value {
            Value::Object(obj) => Self::from_object(obj),
            other => Err(WireError::NotAnObject {
                found: json_type(&other),
            }),
        }
    }

    fn from_object(mut obj: Map<String, Value>) -> Result<Self, WireError> {
        if let Some(ret) = obj.remove("return") {
            return Ok(Self::Return {
                id: obj.remove("id"),
                ret,
            });
        }
        if let Some(error) = obj.remove("error") {
            let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_owned);
            let class = text("class").unwrap_or_else(|| "GenericError".to_owned());
            let desc = text("desc").unwrap_or_else(|| error.to_string());
            return Ok(Self::Error {
                id: obj.remove("id"),
                class,
                desc,
            });
        }
        if obj.contains_key("event") {
            return serde_json::from_value(Value::Object(obj))
                .map(Self::Event)
                .map_err(|source| WireError::BadShape {
                    kind: "event",
                    source,
                });
        }
        if let Some(greeting) = obj.remove("QMP") {
            return serde_json::from_value(greeting)
                .map(Self::Greeting)
                .map_err(|source| WireError::BadShape {
                    kind: "greeting",
                    source,
                });
        }
        let keys = obj
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        Err(WireError::UnknownMessage { keys })
    }

    /// A short name for the kind of message ("greeting", "return", "error", "event").
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Greeting(_) => "greeting",
            Self::Return { .. } => "return",
            Self::Error { .. } => "error",
            Self::Event(_) => "event",
        }
    }

    /// The message as a JSON object, in the shape QEMU sends.
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        match self {
            Self::Greeting(greeting) => {
                obj.insert(
                    "QMP".into(),
                    serde_json::to_value(greeting).unwrap_or(Value::Null),
                );
            }
            Self::Return { id, ret } => {
                obj.insert("return".into(), ret.clone());
                insert_id(&mut obj, id);
            }
            Self::Error { id, class, desc } => {
                let error = serde_json::json!({ "class": class, "desc": desc });
                obj.insert("error".into(), error);
                insert_id(&mut obj, id);
            }
            Self::Event(event) => return serde_json::to_value(event).unwrap_or(Value::Null),
        }
        Value::Object(obj)
    }

    /// The message as one line of compact JSON ending in `"\r\n"`, ready to write.
    pub fn to_line(&self) -> String {
        let mut line = self.to_value().to_string();
        line.push_str("\r\n");
        line
    }
}

/// One command from a QMP client: `{"execute": ..., "arguments": ..., "id": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientCommand {
    /// The command name, e.g. `"query-status"`.
    pub execute: String,
    /// The command's arguments object, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// Any JSON value; the server echoes it in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
}

/// Why QEMU would refuse a request before looking at its command: QEMU's description, and
/// the request's `id` when it had one (QEMU echoes it even then).
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest {
    /// The request's `id`, if it was an object with one.
    pub id: Option<Value>,
    /// QEMU's description, e.g. `"QMP input lacks member 'execute'"`.
    pub desc: String,
}

impl ClientCommand {
    /// Checks a decoded request as QEMU's dispatcher does (without out-of-band support):
    /// an object with a string `execute`, an object `arguments` if any, an `id` of any type,
    /// and no other member.
    pub fn from_request(request: Value) -> Result<Self, BadRequest> {
        let Value::Object(mut obj) = request else {
            return Err(BadRequest {
                id: None,
                desc: "QMP input must be a JSON object".into(),
            });
        };
        let id = obj.remove("id");
        let refuse = |desc: String| BadRequest {
            id: id.clone(),
            desc,
        };
        for (key, value) in &obj {
            match key.as_str() {
                "execute" if !value.is_string() => {
                    return Err(refuse("QMP input member 'execute' must be a string".into()));
                }
                "arguments" if !value.is_object() => {
                    return Err(refuse(
                        "QMP input member 'arguments' must be an object".into(),
                    ));
                }
                "execute" | "arguments" => {}
                other => return Err(refuse(format!("QMP input member '{other}' is unexpected"))),
            }
        }
        let Some(Value::String(execute)) = obj.remove("execute") else {
            return Err(refuse("QMP input lacks member 'execute'".into()));
        };
        Ok(Self {
            execute,
            arguments: obj.remove("arguments"),
            id,
        })
    }

    /// Parses one message's bytes (one JSON object); unknown fields are ignored.
    pub fn parse(line: &[u8]) -> Result<Self, WireError> {
        let obj = parse_object(line)?;
        if !obj.get("execute").is_some_and(Value::is_string) {
            return Err(WireError::MissingExecute);
        }
        serde_json::from_value(Value::Object(obj)).map_err(|source| WireError::BadShape {
            kind: "command",
            source,
        })
    }

    /// The command as one line of compact JSON ending in `"\r\n"`, ready to write.
    pub fn to_line(&self) -> String {
        let mut obj = Map::new();
        obj.insert("execute".into(), Value::String(self.execute.clone()));
        if let Some(arguments) = &self.arguments {
            obj.insert("arguments".into(), arguments.clone());
        }
        insert_id(&mut obj, &self.id);
        let mut line = Value::Object(obj).to_string();
        line.push_str("\r\n");
        line
    }
}

fn insert_id(obj: &mut Map<String, Value>, id: &Option<Value>) {
    if let Some(id) = id {
        obj.insert("id".into(), id.clone());
    }
}

fn parse_object(line: &[u8]) -> Result<Map<String, Value>, WireError> {
    match serde_json::from_slice(line).map_err(WireError::NotJson)? {
        Value::Object(obj) => Ok(obj),
        other => Err(WireError::NotAnObject {
            found: json_type(&other),
        }),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GREETING: &[u8] = br#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg"}, "capabilities": ["oob"]}}"#;

    #[test]
    fn qemu_greeting_parses_version_and_capabilities() {
        let ServerMessage::Greeting(greeting) = ServerMessage::parse(GREETING).unwrap() else {
            panic!("not a greeting");
        };
        assert_eq!(
            (
                greeting.version.major,
                greeting.version.minor,
                greeting.version.micro
            ),
            (7, 2, 22)
        );
        assert_eq!(greeting.version.package, "Debian 1:7.2+dfsg");
        assert_eq!(greeting.capabilities, vec!["oob"]);
    }

    #[test]
    fn greeting_round_trips_through_to_line() {
        let parsed = ServerMessage::parse(GREETING).unwrap();
        let line = parsed.to_line();
        assert!(line.ends_with("\r\n"));
        assert_eq!(
            ServerMessage::parse(line.trim_end().as_bytes()).unwrap(),
            parsed
        );
    }

    #[test]
    fn return_and_error_keep_any_id_type_and_ignore_unknown_fields() {
        let ret =
            ServerMessage::parse(br#"{"return": {"a": 1}, "id": "abc", "future": true}"#).unwrap();
        assert_eq!(
            ret,
            ServerMessage::Return {
                id: Some(json!("abc")),
                ret: json!({"a": 1})
            }
        );
        let err = ServerMessage::parse(
            br#"{"id": {"n": 5}, "error": {"class": "CommandNotFound", "desc": "The command x has not been found"}}"#,
        )
        .unwrap();
        assert_eq!(
            err,
            ServerMessage::Error {
                id: Some(json!({"n": 5})),
                class: "CommandNotFound".into(),
                desc: "The command x has not been found".into(),
            }
        );
    }

    #[test]
    fn event_without_data_gets_null_and_unknown_events_are_fine() {
        let msg = ServerMessage::parse(
            br#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SOMETHING_NEW", "extra": 1}"#,
        )
        .unwrap();
        let ServerMessage::Event(event) = msg else {
            panic!("not an event")
        };
        assert_eq!(event.event, "SOMETHING_NEW");
        assert_eq!(event.data, Value::Null);
        assert_eq!(
            event.timestamp,
            Some(Timestamp {
                seconds: 1,
                microseconds: 2
            })
        );
    }

    #[test]
    fn malformed_lines_give_specific_errors() {
        assert!(matches!(
            ServerMessage::parse(b"not json"),
            Err(WireError::NotJson(_))
        ));
        assert!(matches!(
            ServerMessage::parse(b"[1]"),
            Err(WireError::NotAnObject { found: "array" })
        ));
        let Err(WireError::UnknownMessage { keys }) = ServerMessage::parse(br#"{"foo": 1}"#) else {
            panic!("expected UnknownMessage");
        };
        assert_eq!(keys, "foo");
        assert!(matches!(
            ServerMessage::parse(br#"{"event": 5}"#),
            Err(WireError::BadShape { kind: "event", .. })
        ));
    }

    #[test]
    fn error_reply_with_missing_fields_is_still_an_error_reply() {
        let msg = ServerMessage::parse(br#"{"error": "boom", "id": 1}"#).unwrap();
        assert_eq!(
            msg,
            ServerMessage::Error {
                id: Some(json!(1)),
                class: "GenericError".into(),
                desc: "\"boom\"".into()
            }
        );
    }

    #[test]
    fn server_replies_serialize_in_qemu_shape() {
        let err = ServerMessage::Error {
            id: Some(json!(3)),
            class: "GenericError".into(),
            desc: "nope".into(),
        };
        assert_eq!(
            err.to_value(),
            json!({"error": {"class": "GenericError", "desc": "nope"}, "id": 3})
        );
        let event = ServerMessage::Event(QmpEvent {
            event: "STOP".into(),
            data: Value::Null,
            timestamp: None,
        });
        assert_eq!(event.to_line(), "{\"event\":\"STOP\"}\r\n");
        let ret = ServerMessage::Return {
            id: None,
            ret: json!({}),
        };
        assert_eq!(ret.to_line(), "{\"return\":{}}\r\n");
    }

    #[test]
    fn client_command_parses_and_serializes() {
        let cmd = ClientCommand::parse(
            br#"{"execute": "device_del", "arguments": {"id": "x"}, "id": 9, "x": 0}"#,
        )
        .unwrap();
        assert_eq!(cmd.execute, "device_del");
        assert_eq!(cmd.arguments, Some(json!({"id": "x"})));
        assert_eq!(cmd.id, Some(json!(9)));
        assert_eq!(
            cmd.to_line(),
            "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"x\"},\"id\":9}\r\n"
        );
        let bare = ClientCommand {
            execute: "stop".into(),
            arguments: None,
            id: None,
        };
        assert_eq!(bare.to_line(), "{\"execute\":\"stop\"}\r\n");
    }

    #[test]
    fn client_command_without_execute_is_rejected() {
        assert!(matches!(
            ClientCommand::parse(br#"{"arguments": {}}"#),
            Err(WireError::MissingExecute)
        ));
        assert!(matches!(
            ClientCommand::parse(br#"{"execute": 1}"#),
            Err(WireError::MissingExecute)
        ));
        assert!(matches!(
            ClientCommand::parse(b"{oops"),
            Err(WireError::NotJson(_))
        ));
    }
}
