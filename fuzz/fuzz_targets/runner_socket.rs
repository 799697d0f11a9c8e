//! A client sends arbitrary bytes to the runner's QMP multiplexer (the real `supervisor/mux.rs`).
//!
//! One multiplexer serves for the whole run, in front of a scripted stand-in for QEMU on a
//! socket pair. Each input is one client connection: the bytes are written in fuzzer-chosen
//! chunks, then the client half-closes and reads everything until the multiplexer hangs up.
//!
//! Checked besides "never panics, never hangs":
//! - every message the multiplexer sends is a valid QMP server message, the first the greeting;
//! - every complete input message gets exactly one reply (two for an error that QEMU's lexer
//!   reports before recovering, as the decoder yields them), in order, echoing its `id`;
//! - capability negotiation: commands before `qmp_capabilities` are refused with
//!   `CommandNotFound`, a second `qmp_capabilities` too, and afterwards commands are forwarded
//!   and QEMU's answer (return or error) comes back unchanged;
//! - the gate: `quit` (known to the fake QEMU, not allow-listed) is refused with a
//!   `GenericError` unless the session enabled `x-maqet-allow-dangerous`.
#![no_main]

#[path = "runner_supervisor.rs"]
mod supervisor;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use maqet_qmp::QmpClient;
use maqet_qmp::wire::{ClientCommand, JsonDecoder, MessageReader, ServerMessage};
use maqet_runner::qmp_gate::{ALLOW_DANGEROUS_CAPABILITY, AllowedDirs};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::runtime::Runtime;

/// How long one connection may take before the multiplexer counts as hung.
const HANG_LIMIT: Duration = Duration::from_secs(10);

struct Fixture {
    runtime: Runtime,
    socket: PathBuf,
    /// Tasks alive between connections: the accept loop, the fake QEMU, the client's two.
    idle_tasks: usize,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = std::env::temp_dir().join(format!("maqet-fuzz-mux-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("socket directory");
        let socket = dir.join("qmp.sock");
        runtime.block_on(async {
            let (runner_end, qemu_end) = UnixStream::pair().expect("socket pair");
            tokio::spawn(fake_qemu(qemu_end));
            let qmp = QmpClient::from_stream(runner_end)
                .await
                .expect("handshake with the fake QEMU");
            let listener = supervisor::mux::bind(&socket).expect("bind the multiplexer socket");
            let dirs = AllowedDirs::new([std::env::temp_dir()]);
            tokio::spawn(supervisor::mux::serve(listener, qmp, dirs));
        });
        let idle_tasks = runtime.block_on(settled_task_count(usize::MAX));
        Fixture {
            runtime,
            socket,
            idle_tasks,
        }
    })
}

/// Stands in for QEMU: answers `qmp_capabilities` and `query-commands` (it knows `quit` and
/// `query-status`); for any other command it first emits a `FUZZ` event, then fails commands
/// whose name starts with `e` and echoes the arguments of the rest.
async fn fake_qemu(stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let greeting = r#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fuzz"}, "capabilities": ["oob"]}}"#;
    if write
        .write_all(format!("{greeting}\r\n").as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let mut reader = MessageReader::new(read);
    while let Ok(Some(Ok(message))) = reader.next_message().await {
        let Ok(command) = ClientCommand::from_request(message) else {
            continue;
        };
        let mut out = String::new();
        if command.execute == "query-commands" {
            let list = json!([{"name": "quit"}, {"name": "query-status"}]);
            let reply = ServerMessage::Return {
                id: command.id.clone(),
                ret: list,
            };
            if write.write_all(reply.to_line().as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        if command.execute != "qmp_capabilities" {
            out.push_str(&format!(
                "{}\r\n",
                json!({"event": "FUZZ", "data": {"command": command.execute}})
            ));
        }
        out.push_str(&expected_from_qemu(&command, command.id.clone()).to_line());
        if write.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// What the fake QEMU answers to a forwarded command.
fn expected_from_qemu(command: &ClientCommand, id: Option<Value>) -> ServerMessage {
    if command.execute.starts_with('e') {
        ServerMessage::Error {
            id,
            class: "GenericError".into(),
            desc: format!("fake failure of {}", command.execute),
        }
    } else {
        ServerMessage::Return {
            id,
            ret: json!({"echo": command.arguments.clone().unwrap_or(Value::Null)}),
        }
    }
}

/// The capabilities a `qmp_capabilities` asks for, or `None` when QEMU would refuse its
/// arguments (a `GenericError` whose text is not modelled here).
fn requested(arguments: Option<&Value>) -> Option<Vec<String>> {
    let Some(args) = arguments.and_then(Value::as_object) else {
        return Some(Vec::new());
    };
    if args.keys().any(|k| k != "enable") {
        return None;
    }
    match args.get("enable") {
        None => Some(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| match v.as_str() {
                Some(name @ ("oob" | ALLOW_DANGEROUS_CAPABILITY)) => Some(name.to_owned()),
                _ => None,
            })
            .collect(),
        Some(_) => None,
    }
}

/// A `GenericError` whose text is not modelled.
fn generic(id: Option<Value>) -> ServerMessage {
    ServerMessage::Error {
        id,
        class: "GenericError".into(),
        desc: String::new(),
    }
}

/// The replies the multiplexer must send, one per decoded message, by its negotiation rules.
fn expected_replies(input: &[u8]) -> Vec<ServerMessage> {
    let mut decoder = JsonDecoder::new();
    decoder.push(input);
    let mut negotiated = false;
    let mut dangerous = false;
    let refused = |id: Option<Value>, desc: &str| ServerMessage::Error {
        id,
        class: "CommandNotFound".into(),
        desc: desc.into(),
    };
    std::iter::from_fn(|| decoder.next_message())
        .map(|message| {
            let Ok(request) = message else {
                return generic(None);
            };
            let command = match ClientCommand::from_request(request) {
                Ok(command) => command,
                Err(bad) => return generic(bad.id),
            };
            let id = command.id.clone();
            if command.execute == "qmp_capabilities" {
                let Some(names) = requested(command.arguments.as_ref()) else {
                    return generic(id);
                };
                if negotiated {
                    return refused(
                        id,
                        "Capabilities negotiation is already complete, command ignored",
                    );
                }
                if names.iter().any(|n| n == "oob") {
                    return generic(id);
                }
                negotiated = true;
                dangerous = names.iter().any(|n| n == ALLOW_DANGEROUS_CAPABILITY);
                return ServerMessage::Return { id, ret: json!({}) };
            }
            if !negotiated {
                return refused(
                    id,
                    "Expecting capabilities negotiation with 'qmp_capabilities'",
                );
            }
            if command.execute == "quit" && !dangerous {
                return generic(id);
            }
            if command.execute == "query-commands" {
                let ret = json!([{"name": "quit"}, {"name": "query-status"}]);
                return ServerMessage::Return { id, ret };
            }
            expected_from_qemu(&command, id)
        })
        .collect()
}

/// Lets spawned tasks run until at most `target` are alive (or 1000 scheduler turns pass);
/// returns how many are alive.
async fn settled_task_count(target: usize) -> usize {
    let metrics = tokio::runtime::Handle::current().metrics();
    let mut last = metrics.num_alive_tasks();
    for _ in 0..1000 {
        tokio::task::yield_now().await;
        let now = metrics.num_alive_tasks();
        if now <= target || (target == usize::MAX && now == last) {
            return now;
        }
        last = now;
    }
    last
}

async fn talk(socket: &PathBuf, input: &[u8], seed: u8) -> Vec<u8> {
    let stream = UnixStream::connect(socket)
        .await
        .expect("connect to the multiplexer");
    let (mut read, mut write) = stream.into_split();
    let sender = async move {
        let mut state = u32::from(seed) | 1;
        let mut rest = input;
        while !rest.is_empty() {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let size = (((state >> 16) % 64) as usize + 1).min(rest.len());
            let (chunk, tail) = rest.split_at(size);
            if write.write_all(chunk).await.is_err() {
                return;
            }
            rest = tail;
            tokio::task::yield_now().await;
        }
        drop(write.shutdown().await);
    };
    let receiver = async move {
        let mut out = Vec::new();
        drop(read.read_to_end(&mut out).await);
        out
    };
    tokio::join!(sender, receiver).1
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let fx = fixture();
    let output = fx.runtime.block_on(async {
        tokio::time::timeout(HANG_LIMIT, talk(&fx.socket, input, seed))
            .await
            .expect("the multiplexer did not finish a connection within 10 s")
    });
    let alive = fx.runtime.block_on(settled_task_count(fx.idle_tasks));
    assert!(
        alive <= fx.idle_tasks,
        "a finished connection left {} tasks behind",
        alive - fx.idle_tasks
    );

    let mut decoder = JsonDecoder::new();
    decoder.push(&output);
    assert!(
        output.is_empty() || output.ends_with(b"\r\n"),
        "a reply was cut short"
    );
    let messages: Vec<ServerMessage> = std::iter::from_fn(|| decoder.next_message())
        .map(|message| {
            let message = message.expect("multiplexer messages decode");
            ServerMessage::from_value(message).expect("the multiplexer sends valid QMP messages")
        })
        .collect();
    let Some((ServerMessage::Greeting(greeting), rest)) = messages.split_first() else {
        panic!("the multiplexer's first message is not the greeting: {messages:?}");
    };
    assert!(
        greeting.capabilities.is_empty(),
        "the multiplexer offers no capabilities"
    );

    let replies: Vec<&ServerMessage> = rest
        .iter()
        .filter(|m| !matches!(m, ServerMessage::Event(_)))
        .collect();
    let expected = expected_replies(input);
    assert_eq!(
        replies.len(),
        expected.len(),
        "one reply per complete message"
    );
    for (got, want) in replies.iter().zip(&expected) {
        match (got, want) {
            (
                ServerMessage::Error { id, class, .. },
                ServerMessage::Error {
                    id: want_id,
                    class: want_class,
                    desc,
                },
            ) if desc.is_empty() => {
                assert_eq!((id, class), (want_id, want_class), "reply to a bad message");
            }
            _ => assert_eq!(*got, want, "reply to a command"),
        }
    }
});
