//! QmpClient against a scripted fake QMP server.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::fake_qemu::{FakeQemu, GREETING};
use crate::wire::WireError;
use crate::{QmpClient, QmpError, RunState};

#[tokio::test]
async fn handshake_reads_greeting_and_sends_capabilities_first() {
    let fake = FakeQemu::bind();
    let server = async {
        let mut conn = fake.accept_raw().await;
        conn.send(&format!("{GREETING}\r\n")).await;
        let caps = conn.recv().await;
        conn.reply(&caps, json!({})).await;
        (caps, conn)
    };
    let (client, (caps, _conn)) = tokio::join!(QmpClient::connect(&fake.path), server);
    let client = client.unwrap();
    assert_eq!(caps.execute, "qmp_capabilities");
    assert_eq!(caps.arguments, None);
    assert!(caps.id.is_some());
    assert_eq!(client.greeting().version.to_string(), "7.2.0");
    assert_eq!(client.greeting().capabilities, vec!["oob"]);
    assert!(!client.is_closed());
}

#[tokio::test]
async fn qmp_capabilities_is_written_before_the_greeting_is_read() {
    // The server reads before it greets: a client that waited for the greeting would hang.
    let fake = FakeQemu::bind();
    let server = async {
        let mut conn = fake.accept_raw().await;
        let caps = conn.recv().await;
        conn.send(&format!("{GREETING}\r\n")).await;
        conn.reply(&caps, json!({})).await;
        (caps, conn)
    };
    let connect = QmpClient::connect_with_timeout(&fake.path, Duration::from_secs(10));
    let (client, (caps, _conn)) = tokio::join!(connect, server);
    assert!(client.is_ok(), "{client:?}");
    assert_eq!(caps.execute, "qmp_capabilities");
}

#[tokio::test]
async fn a_server_that_closes_before_greeting_is_a_closed_connection() {
    // It never reads the early qmp_capabilities, so the kernel resets the connection.
    let fake = FakeQemu::bind();
    let server = async {
        let conn = fake.accept_raw().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(conn);
    };
    let connect = QmpClient::connect_with_timeout(&fake.path, Duration::from_secs(10));
    let (client, ()) = tokio::join!(connect, server);
    assert!(matches!(client, Err(QmpError::Closed)), "{client:?}");
}

#[tokio::test]
async fn pipelined_commands_follow_qmp_capabilities_and_get_their_answers() {
    let fake = FakeQemu::bind();
    let server = async {
        let mut conn = fake.accept_raw().await;
        let caps = conn.recv().await;
        conn.send(&format!("{GREETING}\r\n")).await;
        // Both commands arrive before negotiation is answered.
        let status = conn.recv().await;
        let version = conn.recv().await;
        conn.reply(&caps, json!({})).await;
        conn.reply(
            &status,
            json!({"status": "running", "running": true, "singlestep": false}),
        )
        .await;
        conn.reply(&version, json!(7)).await;
        (caps, status, version, conn)
    };
    let client = async {
        let stream = tokio::net::UnixStream::connect(&fake.path).await.unwrap();
        let (client, negotiation) = QmpClient::from_stream_pipelined(stream).await.unwrap();
        let status = client.send("query-status", None).unwrap();
        let version = client.send("query-version", None).unwrap();
        negotiation.wait().await.unwrap();
        let status = status.wait(Duration::from_secs(10)).await.unwrap();
        let version = version.wait(Duration::from_secs(10)).await.unwrap();
        (client, status, version)
    };
    let ((_client, status, version), (caps, sent_status, sent_version, _conn)) =
        tokio::join!(client, server);
    assert_eq!(caps.execute, "qmp_capabilities");
    assert_eq!(sent_status.execute, "query-status");
    assert_eq!(sent_version.execute, "query-version");
    assert_eq!(status["status"], "running");
    assert_eq!(version, json!(7));
}

#[tokio::test]
async fn a_first_message_that_is_not_a_greeting_is_a_protocol_error() {
    let fake = FakeQemu::bind();
    let server = async {
        let mut conn = fake.accept_raw().await;
        conn.send("{\"return\": {}}\n").await;
        conn
    };
    let (client, _conn) = tokio::join!(QmpClient::connect(&fake.path), server);
    assert!(matches!(
        client,
        Err(QmpError::Protocol(WireError::NotGreeting {
            found: "return"
        }))
    ));
}

#[tokio::test]
async fn connecting_to_a_missing_socket_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.sock");
    let err = QmpClient::connect(&path).await.unwrap_err();
    assert!(matches!(&err, QmpError::Connect { path: p, .. } if *p == path));
    assert!(err.to_string().contains("absent.sock"));
}

#[tokio::test]
async fn a_silent_server_makes_the_handshake_time_out() {
    let fake = FakeQemu::bind();
    let server = fake.accept_raw();
    let (client, _conn) = tokio::join!(
        QmpClient::connect_with_timeout(&fake.path, Duration::from_millis(100)),
        server
    );
    assert!(matches!(client, Err(QmpError::HandshakeTimeout { .. })));
}

#[tokio::test]
async fn concurrent_commands_each_get_their_own_reply_when_answered_out_of_order() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let (a, b, c) = (client.clone(), client.clone(), client.clone());
    let server = async {
        let cmds = [conn.recv().await, conn.recv().await, conn.recv().await];
        for cmd in cmds.iter().rev() {
            conn.reply(cmd, json!({"for": cmd.execute})).await;
        }
        let ids: Vec<Value> = cmds.iter().map(|c| c.id.clone().unwrap()).collect();
        ids
    };
    let (ra, rb, rc, ids) = tokio::join!(
        a.execute("cmd-a", None),
        b.execute("cmd-b", None),
        c.execute("cmd-c", None),
        server
    );
    assert_eq!(ra.unwrap(), json!({"for": "cmd-a"}));
    assert_eq!(rb.unwrap(), json!({"for": "cmd-b"}));
    assert_eq!(rc.unwrap(), json!({"for": "cmd-c"}));
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "ids must be unique: {ids:?}"
    );
}

#[tokio::test]
async fn unknown_event_field_enum_value_and_garbage_do_not_end_the_connection() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let server = async {
        let cmd = conn.recv().await;
        conn.event("EVENT_FROM_THE_FUTURE", json!({"whatever": [1, 2]}))
            .await;
        conn.send("this is not json\r\n").await;
        conn.send("[1, 2, 3]\n").await;
        conn.send("{\"neither\": \"reply nor event\"}\n").await;
        let id = cmd.id.clone().unwrap();
        let reply = json!({"return": {"status": "hibernating-on-mars", "running": false, "new-field": 1}, "id": id, "extra": true});
        conn.send(&format!("{reply}\r\n")).await;
        let next = conn.recv().await;
        conn.reply(
            &next,
            json!({"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""}),
        )
        .await;
    };
    let client_side = async {
        let status = client.query_status().await.unwrap();
        let version = client.query_version().await.unwrap();
        (status, version)
    };
    let ((status, version), ()) = tokio::join!(client_side, server);
    assert_eq!(
        status.status,
        RunState::Unknown("hibernating-on-mars".into())
    );
    assert!(!status.running);
    assert_eq!(version.major, 7);
    assert!(!client.is_closed());
}

#[tokio::test]
async fn replies_with_unknown_ids_are_dropped_and_the_right_one_is_delivered() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let server = async {
        let cmd = conn.recv().await;
        conn.send(
            "{\"return\": \"stray\", \"id\": 999999}\n{\"return\": \"text id\", \"id\": \"abc\"}\n",
        )
        .await;
        conn.send("{\"return\": \"no id\"}\n").await;
        conn.reply(&cmd, json!("mine")).await;
    };
    let (got, ()) = tokio::join!(client.execute("x", None), server);
    assert_eq!(got.unwrap(), json!("mine"));
}

#[tokio::test]
async fn events_fan_out_to_every_subscriber() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    // An event nobody listens to is simply not kept; the reply after it proves it was read.
    let server = async {
        conn.event("BEFORE_ANYONE_LISTENS", Value::Null).await;
        let ping = conn.recv().await;
        conn.reply(&ping, json!({})).await;
    };
    let (ping, ()) = tokio::join!(client.execute("ping", None), server);
    ping.unwrap();
    let mut first = client.events();
    let mut second = client.clone().events();
    conn.event("STOP", Value::Null).await;
    conn.event("RESUME", json!({"reason": "x"})).await;
    for rx in [&mut first, &mut second] {
        let stop = rx.recv().await.unwrap();
        assert_eq!(stop.event, "STOP");
        assert_eq!(stop.data, Value::Null);
        assert_eq!(stop.timestamp.unwrap().microseconds, 5);
        assert_eq!(rx.recv().await.unwrap().data, json!({"reason": "x"}));
    }
}

#[tokio::test]
async fn split_message_and_two_messages_in_one_write_are_framed_correctly() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let mut events = client.events();
    let server = async {
        let first = conn.recv().await;
        let second = conn.recv().await;
        let id1 = first.id.clone().unwrap();
        let id2 = second.id.clone().unwrap();
        conn.send("{\"return\": {\"par").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        conn.send(&format!(
            "t\": 1}}, \"id\": {id1}}}\r\n{{\"event\": \"E\"}}\n{{\"return\": 2, \"id\": {id2}}}\n"
        ))
        .await;
    };
    let (r1, r2, ()) = tokio::join!(
        client.execute("one", None),
        client.execute("two", None),
        server
    );
    assert_eq!(r1.unwrap(), json!({"part": 1}));
    assert_eq!(r2.unwrap(), json!(2));
    assert_eq!(events.recv().await.unwrap().event, "E");
}

#[tokio::test]
async fn a_timed_out_command_fails_and_its_late_reply_is_dropped() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let slow = client.execute_with_timeout("slow", None, Duration::from_millis(50));
    let (result, slow_cmd) = tokio::join!(slow, conn.recv());
    let err = result.unwrap_err();
    assert!(
        matches!(&err, QmpError::Timeout { command, .. } if command == "slow"),
        "{err:?}"
    );
    conn.reply(&slow_cmd, json!("late")).await;
    let server = async {
        let next = conn.recv().await;
        conn.reply(&next, json!("on time")).await;
    };
    let (next, ()) = tokio::join!(client.execute("next", None), server);
    assert_eq!(next.unwrap(), json!("on time"));
}

#[tokio::test]
async fn default_timeout_applies_to_typed_commands() {
    let fake = FakeQemu::bind();
    let (mut client, mut conn) = fake.connected_pair().await;
    client.set_default_timeout(Duration::from_millis(50));
    let (result, _cmd) = tokio::join!(client.stop(), conn.recv());
    assert!(matches!(result, Err(QmpError::Timeout { command, .. }) if command == "stop"));
}

#[tokio::test]
async fn server_closing_fails_pending_commands_with_closed() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let mut events = client.events();
    let server = async move {
        let _cmd = conn.recv().await;
        drop(conn);
    };
    let (result, ()) = tokio::join!(client.execute("hang", None), server);
    assert!(matches!(result, Err(QmpError::Closed)), "{result:?}");
    client.closed().await;
    assert!(client.is_closed());
    assert!(matches!(
        client.execute("again", None).await,
        Err(QmpError::Closed)
    ));
    assert!(matches!(events.recv().await, Err(RecvError::Closed)));
}

#[tokio::test]
async fn qemu_error_reply_becomes_command_error_with_class_and_desc() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let server = async {
        let cmd = conn.recv().await;
        assert_eq!(cmd.arguments, Some(json!({"id": "nosuch"})));
        conn.reply_error(&cmd, "DeviceNotFound", "Device 'nosuch' not found")
            .await;
    };
    let (result, ()) = tokio::join!(client.device_del("nosuch"), server);
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "QEMU refused `device_del`: Device 'nosuch' not found (DeviceNotFound)"
    );
    assert!(
        matches!(err, QmpError::Command { class, command, .. } if class == "DeviceNotFound" && command == "device_del")
    );
}

#[tokio::test]
async fn quit_tolerates_the_connection_closing_before_the_reply() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let server = async move {
        assert_eq!(conn.recv().await.execute, "quit");
        drop(conn);
    };
    let (result, ()) = tokio::join!(client.quit(), server);
    result.unwrap();
}

#[tokio::test]
async fn send_key_and_device_add_send_qemu_argument_shapes() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let server = async {
        let keys = conn.recv().await;
        conn.reply(&keys, json!({})).await;
        let add = conn.recv().await;
        conn.reply(&add, json!({})).await;
        (keys, add)
    };
    let props = serde_json::Map::from_iter([("bus".to_owned(), json!("rp0"))]);
    let client_side = async {
        client
            .send_key(&["ctrl", "alt", "delete"], Some(200))
            .await
            .unwrap();
        client
            .device_add("virtio-rng-pci", "rng0", props)
            .await
            .unwrap();
    };
    let ((), (keys, add)) = tokio::join!(client_side, server);
    assert_eq!(keys.execute, "send-key");
    assert_eq!(
        keys.arguments.unwrap(),
        json!({"keys": [{"type": "qcode", "data": "ctrl"}, {"type": "qcode", "data": "alt"},
                        {"type": "qcode", "data": "delete"}], "hold-time": 200})
    );
    assert_eq!(
        add.arguments.unwrap(),
        json!({"bus": "rp0", "driver": "virtio-rng-pci", "id": "rng0"})
    );
}

#[tokio::test]
async fn type_text_with_an_untypeable_character_sends_nothing() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let err = client.type_text("abé", None).await.unwrap_err();
    assert!(matches!(err, QmpError::Untypeable(ref e) if e.ch == 'é' && e.index == 2));
    let server = async {
        let cmd = conn.recv().await;
        conn.reply(&cmd, json!({})).await;
        cmd.execute
    };
    let (ping, first_seen) = tokio::join!(client.execute("ping", None), server);
    ping.unwrap();
    assert_eq!(first_seen, "ping");
}

#[tokio::test]
async fn wait_job_follows_events_reads_the_error_and_dismisses() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let server = async {
        let query = conn.recv().await;
        assert_eq!(query.execute, "query-jobs");
        conn.reply(
            &query,
            json!([{"id": "j1", "type": "snapshot-save", "status": "running"}]),
        )
        .await;
        conn.event(
            "JOB_STATUS_CHANGE",
            json!({"id": "other", "status": "concluded"}),
        )
        .await;
        conn.event(
            "JOB_STATUS_CHANGE",
            json!({"id": "j1", "status": "concluded"}),
        )
        .await;
        let query = conn.recv().await;
        let concluded = json!([{"id": "j1", "type": "snapshot-save", "status": "concluded", "error": "No space left"}]);
        conn.reply(&query, concluded).await;
        let dismiss = conn.recv().await;
        assert_eq!(
            (dismiss.execute.as_str(), dismiss.arguments.clone()),
            ("job-dismiss", Some(json!({"id": "j1"})))
        );
        conn.reply(&dismiss, json!({})).await;
    };
    let (result, ()) = tokio::join!(client.wait_job("j1", Duration::from_secs(30)), server);
    let err = result.unwrap_err();
    assert!(
        matches!(&err, QmpError::JobFailed { job_id, desc } if job_id == "j1" && desc == "No space left"),
        "{err:?}"
    );
}

#[tokio::test]
async fn wait_job_for_an_unknown_job_says_so() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let server = async {
        let query = conn.recv().await;
        conn.reply(&query, json!([])).await;
    };
    let (result, ()) = tokio::join!(client.wait_job("ghost", Duration::from_secs(30)), server);
    assert!(matches!(result, Err(QmpError::JobNotFound { job_id }) if job_id == "ghost"));
}

#[tokio::test]
async fn dropping_the_last_client_closes_the_socket() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let clone = client.clone();
    drop(client);
    drop(clone);
    assert!(conn.try_recv().await.is_none());
}

#[tokio::test]
async fn a_subscriber_that_never_reads_loses_old_events_but_does_not_stall_replies() {
    let fake = FakeQemu::bind();
    let (client, mut conn) = fake.connected_pair().await;
    let mut idle = client.events();
    let burst = crate::EVENT_CAPACITY + 10;
    let server = async {
        let cmd = conn.recv().await;
        let mut batch = String::new();
        for n in 0..burst {
            batch.push_str(&format!(
                "{{\"event\": \"TICK\", \"data\": {{\"n\": {n}}}}}\n"
            ));
        }
        conn.send(&batch).await;
        conn.reply(&cmd, json!("after the burst")).await;
    };
    let (reply, ()) = tokio::join!(client.execute("x", None), server);
    assert_eq!(reply.unwrap(), json!("after the burst"));
    assert!(matches!(idle.recv().await, Err(RecvError::Lagged(10))));
    assert_eq!(idle.recv().await.unwrap().data, json!({"n": 10}));
}
