//! `callrecords.toml` and `config check`, through the real binary: precedence file → environment →
//! flag on a real command, unknown keys refused, secrets masked.

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

/// Runs the binary in `dir` with no configuration variable inherited.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::bin();
    cmd.current_dir(dir)
        .args(args)
        .env_remove("CALLRECORDS_CONFIG");
    for (k, _) in std::env::vars() {
        if k.starts_with("CALLRECORDS_") && k != "CALLRECORDS_LOG" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn lines(o: &Output) -> usize {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().count()
}

#[test]
fn file_then_environment_then_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cr.toml"),
        "[gen]\ncount = 3\nsmall = true\n",
    )
    .unwrap();
    let file = ["--config-file", "cr.toml"];
    let gen_ = |extra: &[&str], env: &[(&str, &str)]| {
        let args: Vec<&str> = file
            .iter()
            .chain(["gen"].iter())
            .chain(extra)
            .copied()
            .collect();
        lines(&run(dir.path(), &args, env))
    };
    assert_eq!(gen_(&[], &[]), 3);
    assert_eq!(gen_(&[], &[("CALLRECORDS_GEN_COUNT", "2")]), 2);
    assert_eq!(
        gen_(&["--count", "1"], &[("CALLRECORDS_GEN_COUNT", "2")]),
        1
    );
    // A switch the file turns on, the environment turns off.
    let out = |env: &[(&str, &str)]| {
        run(
            dir.path(),
            &["--config-file", "cr.toml", "gen", "--count", "1"],
            env,
        )
        .stdout
    };
    let small = out(&[]);
    assert_eq!(out(&[("CALLRECORDS_GEN_SMALL", "true")]), small);
    assert_ne!(out(&[("CALLRECORDS_GEN_SMALL", "false")]), small);
    // ./callrecords.toml is read when nothing names a file; CALLRECORDS_CONFIG names another one,
    // and an empty CALLRECORDS_CONFIG means no file.
    std::fs::write(dir.path().join("callrecords.toml"), "[gen]\ncount = 4\n").unwrap();
    assert_eq!(lines(&run(dir.path(), &["gen"], &[])), 4);
    assert_eq!(
        lines(&run(
            dir.path(),
            &["gen"],
            &[("CALLRECORDS_CONFIG", "cr.toml")]
        )),
        3
    );
    assert_eq!(
        lines(&run(dir.path(), &["gen"], &[("CALLRECORDS_CONFIG", "")])),
        1000
    );
    // A file named explicitly must exist.
    let o = run(dir.path(), &["--config-file", "missing.toml", "gen"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.toml"));
}

#[test]
fn config_check_reports_sources_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("callrecords.toml"),
        "database-url = \"postgres://app:hunter2@db:5432/cr\"\n\
         [serve]\nlisten = \"127.0.0.1:9100\"\nmax-connections = 64\n\
         [sync]\nclient-secret = \"file-secret\"\n",
    )
    .unwrap();
    let o = run(
        dir.path(),
        &["--log-format", "json", "config", "check", "--json"],
        &[
            ("CALLRECORDS_SERVE_MAX_CONNECTIONS", "65"),
            ("CALLRECORDS_CLIENT_SECRET", "env-secret"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    for secret in ["hunter2", "file-secret", "env-secret"] {
        assert!(!text.contains(secret), "{secret} printed");
    }
    let doc: Value = serde_json::from_str(&text).unwrap();
    let entry = |command: &str, key: &str| {
        doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["command"] == command && e["key"] == key)
            .unwrap_or_else(|| panic!("no {command} {key}"))
            .clone()
    };
    let e = entry("serve", "listen");
    assert_eq!(
        (e["value"].as_str(), e["source"].as_str()),
        (Some("127.0.0.1:9100"), Some("file"))
    );
    assert_eq!(e["env"], "CALLRECORDS_LISTEN");
    let e = entry("serve", "max-connections");
    assert_eq!(
        (e["value"].as_str(), e["source"].as_str()),
        (Some("65"), Some("env"))
    );
    let e = entry("serve", "shutdown-grace");
    assert_eq!(
        (e["value"].as_str(), e["source"].as_str()),
        (Some("30"), Some("default"))
    );
    let e = entry("", "log-format");
    assert_eq!(
        (e["value"].as_str(), e["source"].as_str()),
        (Some("json"), Some("flag"))
    );
    let e = entry("import", "database-url");
    assert_eq!(e["value"], "postgres://app:********@db:5432/cr");
    assert_eq!(e["source"], "file");
    let e = entry("sync", "client-secret");
    assert_eq!(
        (e["value"].as_str(), e["source"].as_str()),
        (Some("********"), Some("env"))
    );
    // A command line after `--`: its flags are `flag`, and only its commands are shown.
    let o = run(
        dir.path(),
        &[
            "config",
            "check",
            "--json",
            "--",
            "serve",
            "--listen",
            "127.0.0.1:9200",
        ],
        &[("CALLRECORDS_SERVE_MAX_CONNECTIONS", "65")],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let entries = doc["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e["command"] == "serve" || e["command"] == "")
    );
    let find = |key: &str| {
        entries
            .iter()
            .find(|e| e["command"] == "serve" && e["key"] == key)
            .unwrap()
    };
    assert_eq!(
        (
            find("listen")["value"].as_str(),
            find("listen")["source"].as_str()
        ),
        (Some("127.0.0.1:9200"), Some("flag"))
    );
    assert_eq!(find("max-connections")["source"], "env");
    // The text form too.
    let o = run(dir.path(), &["config", "check"], &[]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("listen = \"127.0.0.1:9100\"  # file, env CALLRECORDS_LISTEN"),
        "{text}"
    );
    assert!(!text.contains("hunter2") && !text.contains("file-secret"));
    // `--help` does not show the file's password as a default.
    let o = run(dir.path(), &["serve", "--help"], &[]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("hunter2"));
}

#[test]
fn unknown_keys_fail_check_and_every_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("callrecords.toml"),
        "[serve]\nlisten = \"127.0.0.1:9100\"\nmax-conections = 5\n",
    )
    .unwrap();
    let o = run(dir.path(), &["config", "check"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("callrecords.toml")
            && err.contains("`max-conections`")
            && err.contains("[serve]"),
        "{err}"
    );
    // The report is still printed.
    assert!(String::from_utf8_lossy(&o.stdout).contains("[serve]"));
    for args in [&["gen", "--count", "1"][..], &["serve"][..]] {
        let o = run(dir.path(), args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("`max-conections`"));
        assert!(o.stdout.is_empty());
    }
}
