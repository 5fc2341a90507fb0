use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches};

use super::*;
use crate::Cli;

fn file(text: &str) -> File {
    File::parse(Path::new("test.toml"), text).unwrap()
}

fn configured(text: &str) -> (clap::Command, Applied) {
    apply(Cli::command(), &file(text))
}

fn parse(text: &str, argv: &[&str]) -> ArgMatches {
    let (cmd, applied) = configured(text);
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    cmd.try_get_matches_from(std::iter::once("callrecords").chain(argv.iter().copied()))
        .unwrap()
}

/// Every configurable flag of every command, with its command path.
fn all_flags(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, Arg)>) {
    for a in cmd.get_arguments().filter(|a| configurable(a)) {
        out.push((path.to_vec(), a.clone()));
    }
    for s in cmd.get_subcommands() {
        let mut p = path.to_vec();
        p.push(s.get_name().to_string());
        all_flags(s, &p, out);
    }
}

/// A TOML document setting `key` to `value` in the table of `path`.
fn doc(path: &[String], key: &str, value: &str) -> String {
    if path.is_empty() {
        format!("{key} = {value}\n")
    } else {
        format!("[{}]\n{key} = {value}\n", path.join("."))
    }
}

#[test]
fn every_flag_of_every_command_has_a_key_and_an_environment_variable() {
    let (cmd, _) = configured("");
    cmd.clone().debug_assert();
    let mut flags = Vec::new();
    all_flags(&cmd, &[], &mut flags);
    assert!(flags.len() > 50, "only {} flags found", flags.len());
    // Every argument but positionals, help/version and --config-file is covered.
    let mut everything = Vec::new();
    fn every_arg(cmd: &clap::Command, out: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            if !a.is_positional()
                && a.get_long() != Some(FILE_FLAG)
                && !matches!(a.get_action(), ArgAction::Help | ArgAction::Version)
            {
                out.push(a.get_id().to_string());
            }
        }
        cmd.get_subcommands().for_each(|s| every_arg(s, out));
    }
    every_arg(&cmd, &mut everything);
    assert_eq!(everything.len(), flags.len());

    let mut meaning: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, arg) in &flags {
        let long = arg.get_long().unwrap();
        let env = arg
            .get_env()
            .unwrap_or_else(|| panic!("{path:?} --{long} has no environment variable"))
            .to_string_lossy()
            .into_owned();
        assert!(env.starts_with("CALLRECORDS_"), "{env}");
        meaning.entry(env).or_default().insert(long.to_string());
        // The key is accepted in the command's own table (whatever the value's type).
        let (_, applied) = configured(&doc(path, long, "\"x\""));
        assert!(
            !applied
                .problems
                .iter()
                .any(|p| p.contains("unknown key") || p.contains("unknown table")),
            "{path:?} {long}: {:?}",
            applied.problems
        );
    }
    // One variable never stands for two different flags.
    for (env, longs) in meaning {
        assert_eq!(longs.len(), 1, "{env} is shared by {longs:?}");
    }
}

#[test]
fn every_default_value_goes_through_the_file() {
    let (cmd, _) = configured("");
    let mut flags = Vec::new();
    all_flags(&cmd, &[], &mut flags);
    let mut checked = 0;
    for (path, arg) in &flags {
        let long = arg.get_long().unwrap();
        let switch = matches!(arg.get_action(), ArgAction::SetTrue);
        let value = if switch {
            "true".to_string()
        } else {
            match arg.get_default_values() {
                [] => continue,
                [one] => serde_json::Value::String(one.to_string_lossy().into_owned()).to_string(),
                _ => continue,
            }
        };
        let (_, applied) = configured(&doc(path, long, &value));
        assert!(
            applied.problems.is_empty(),
            "{path:?} {long}: {:?}",
            applied.problems
        );
        assert!(applied.in_file(
            &path.iter().map(String::as_str).collect::<Vec<_>>(),
            arg.get_id().as_str()
        ));
        checked += 1;
    }
    assert!(checked > 30, "{checked}");
}

#[test]
fn the_file_beats_the_default_and_a_flag_beats_the_file() {
    let listen = |m: &ArgMatches| {
        *m.subcommand_matches("serve")
            .unwrap()
            .get_one::<SocketAddr>("listen")
            .unwrap()
    };
    let m = parse("", &["serve"]);
    assert_eq!(listen(&m), "127.0.0.1:8080".parse().unwrap());
    let text =
        "[serve]\nlisten = \"127.0.0.1:9001\"\nmax-connections = 7\ngraph-retention = true\n";
    let m = parse(text, &["serve"]);
    assert_eq!(listen(&m), "127.0.0.1:9001".parse().unwrap());
    let serve = m.subcommand_matches("serve").unwrap();
    assert_eq!(serve.get_one::<usize>("max_connections"), Some(&7));
    assert_eq!(serve.get_one::<bool>("graph_retention"), Some(&true));
    let m = parse(
        text,
        &["serve", "--listen", "127.0.0.1:9002", "--max-connections=8"],
    );
    assert_eq!(listen(&m), "127.0.0.1:9002".parse().unwrap());
    let serve = m.subcommand_matches("serve").unwrap();
    assert_eq!(serve.get_one::<usize>("max_connections"), Some(&8));
    // A default from the file is not "given": it triggers no `requires` / `conflicts_with`.
    let m = parse(
        "[serve]\nseed = 5\ndata = \"/tmp/x\"\ndatabase-url = \"postgres://h/db\"\n",
        &["serve"],
    );
    assert_eq!(
        m.subcommand_matches("serve")
            .unwrap()
            .get_one::<u64>("seed"),
        Some(&5)
    );
    // A flag that requires one the file sets is accepted (`--seed` requires `--fake`)...
    let m = parse(
        "[serve]\nfake = true\n",
        &["serve", "--seed", "4", "--tenant", "t"],
    );
    assert_eq!(
        m.subcommand_matches("serve")
            .unwrap()
            .get_one::<u64>("seed"),
        Some(&4)
    );
    let m = parse(
        "[serve]\ntls-key = \"k.pem\"\n",
        &["serve", "--tls-cert", "c.pem"],
    );
    assert!(
        m.subcommand_matches("serve")
            .unwrap()
            .contains_id("tls_key")
    );
    // ...and still refused when nothing sets what it requires.
    let (cmd, _) = configured("[serve]\nlisten = \"127.0.0.1:1\"\n");
    let e = cmd
        .try_get_matches_from(["callrecords", "serve", "--seed", "4"])
        .unwrap_err();
    assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
}

#[test]
fn lists_and_global_flags() {
    let text = "log-format = \"json\"\n[serve]\njwt-issuer = [\"https://a\", \"https://b\"]\n\
                tenant = [\"t1\", \"t2\"]\nfake = true\n";
    let m = parse(text, &["serve"]);
    let serve = m.subcommand_matches("serve").unwrap();
    let issuers: Vec<&String> = serve.get_many("issuers").unwrap().collect();
    assert_eq!(issuers, ["https://a", "https://b"]);
    let tenants: Vec<&String> = serve.get_many("tenants").unwrap().collect();
    assert_eq!(tenants, ["t1", "t2"]);
    assert_eq!(
        format!("{:?}", crate::Cli::from_arg_matches(&m).unwrap().log_format),
        "Json"
    );
    // The command line replaces the file's list, it does not add to it.
    let m = parse(text, &["serve", "--tenant", "t3"]);
    let tenants: Vec<&String> = m
        .subcommand_matches("serve")
        .unwrap()
        .get_many("tenants")
        .unwrap()
        .collect();
    assert_eq!(tenants, ["t3"]);
}

#[test]
fn tables_inherit_and_the_innermost_wins() {
    let text = "database-url = \"postgres://top/db\"\n\
                [quality]\ndata = \"/q\"\n\
                [quality.rebuild]\ndata = \"/qr\"\n\
                [sync]\nconfig = \"tenants.toml\"\n\
                [config.check]\njson = true\n";
    let (cmd, applied) = configured(text);
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let m = |argv: &[&str]| {
        cmd.clone()
            .try_get_matches_from(std::iter::once("callrecords").chain(argv.iter().copied()))
            .unwrap()
    };
    let url = |m: &ArgMatches| m.get_one::<String>("database_url").cloned();
    let data = |m: &ArgMatches| m.get_one::<PathBuf>("data").cloned().unwrap();
    let import = m(&["import", "f.json"]);
    assert_eq!(
        url(import.subcommand_matches("import").unwrap()).as_deref(),
        Some("postgres://top/db")
    );
    let q = m(&["quality"]);
    assert_eq!(
        data(q.subcommand_matches("quality").unwrap()),
        PathBuf::from("/q")
    );
    let qr = m(&["quality", "rebuild"]);
    let qr = qr
        .subcommand_matches("quality")
        .unwrap()
        .subcommand_matches("rebuild")
        .unwrap();
    assert_eq!(data(qr), PathBuf::from("/qr"));
    assert_eq!(url(qr).as_deref(), Some("postgres://top/db"));
    // `sync --config` (its tenants file) and the `[config]` table of the `config` command coexist.
    let s = m(&["sync"]);
    assert_eq!(
        s.subcommand_matches("sync")
            .unwrap()
            .get_one::<PathBuf>("config"),
        Some(&PathBuf::from("tenants.toml"))
    );
}

#[test]
fn unknown_keys_and_bad_values_name_the_key_and_the_file() {
    let cases: &[(&str, &[&str])] = &[
        ("bogus = 1", &["test.toml", "`bogus`", "the top level"]),
        (
            "[serve]\nlistne = \"x\"",
            &["test.toml", "`listne`", "[serve]", "--listne"],
        ),
        ("[serve.extra]\nx = 1", &["test.toml", "[serve.extra]"]),
        ("[nope]\nx = 1", &["test.toml", "[nope]"]),
        // A global flag belongs at the top.
        (
            "[serve]\nlog-format = \"json\"",
            &["`log-format`", "[serve]"],
        ),
        // `import` has no --format (only `quality` and `export` do).
        ("[import]\nformat = \"csv\"", &["`format`", "[import]"]),
        ("config-file = \"x.toml\"", &["`config-file`"]),
        ("serve = 1", &["`serve`", "is a command"]),
        (
            "[serve]\nlisten = 3",
            &["`listen`", "[serve]", "invalid value \"3\""],
        ),
        (
            "[serve]\nlisten = [\"a:1\", \"b:2\"]",
            &["`listen`", "one value"],
        ),
        (
            "[serve]\ngraph-retention = \"yes\"",
            &["`graph-retention`", "true or false"],
        ),
        (
            "[quality]\nkind = \"smell\"",
            &["`kind`", "[quality]", "audio"],
        ),
        ("[serve]\nauth = \"magic\"", &["`auth`", "jwt"]),
        ("[gen]\ncount = -1", &["`count`", "[gen]"]),
        // Inherited from the top into a command whose flag of that name takes other values.
        (
            "kind = \"audio\"",
            &["`kind`", "the top level", "(for `import`)"],
        ),
    ];
    for (text, needles) in cases {
        let (_, applied) = configured(text);
        assert!(!applied.problems.is_empty(), "{text:?} was accepted");
        let all = applied.problems.join("\n");
        for n in *needles {
            assert!(all.contains(n), "{text:?}: {n:?} not in {all}");
        }
    }
    // A file that is not TOML.
    let e = File::parse(Path::new("bad.toml"), "[serve\n").unwrap_err();
    assert!(format!("{e:#}").contains("bad.toml"), "{e:#}");
}

#[test]
fn the_flag_names_the_file_before_clap_parses() {
    let argv = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
    assert_eq!(
        scan_flag(&argv(&["cr", "--config-file", "a.toml", "serve"])),
        Some("a.toml".into())
    );
    assert_eq!(
        scan_flag(&argv(&["cr", "serve", "--config-file=b.toml"])),
        Some("b.toml".into())
    );
    assert_eq!(
        scan_flag(&argv(&["cr", "import", "--", "--config-file", "c"])),
        None
    );
    assert_eq!(scan_flag(&argv(&["cr", "serve"])), None);
}

#[test]
fn secrets_are_masked() {
    assert_eq!(
        mask_value(
            "database-url",
            "postgres://app:hunter2@db:5432/cr?sslmode=require"
        ),
        "postgres://app:********@db:5432/cr?sslmode=require"
    );
    assert_eq!(
        mask_value(
            "database-url",
            "postgresql://db/cr?user=app&password=hunter2"
        ),
        "postgresql://db/cr?user=app&password=********"
    );
    assert_eq!(
        mask_value("database-url", "postgres://app@db/cr"),
        "postgres://app@db/cr"
    );
    assert_eq!(mask_value("client-secret", "s3cr3t"), "********");
    assert_eq!(
        mask_value("client", "fake-client:fake-secret"),
        "fake-client:********"
    );
    // Flags added later are covered by their names.
    assert_eq!(mask_value("oidc-client-secret", "x"), "********");
    assert_eq!(mask_value("session-signing-key", "k"), "********");
    assert_eq!(mask_value("admin-password", "p"), "********");
    // Paths of secret files are shown (their contents are never read).
    assert_eq!(
        mask_value("tokens-file", "/etc/cr/tokens"),
        "/etc/cr/tokens"
    );
    assert_eq!(
        mask_value("jwks-url", "https://idp/keys"),
        "https://idp/keys"
    );
    assert_eq!(mask_value("listen", "127.0.0.1:8080"), "127.0.0.1:8080");
}

#[test]
fn check_masks_secrets_and_help_does_not_show_them() {
    let text = "database-url = \"postgres://app:hunter2@db/cr\"\n\
                [sync]\nclient-secret = \"s3cr3t-value\"\n\
                [serve]\nclient = [\"c1:topsecret\"]\n";
    let f = file(text);
    let (cmd, applied) = apply(Cli::command(), &f);
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let matches = cmd
        .clone()
        .try_get_matches_from(["callrecords", "config", "check"])
        .unwrap();
    let entries = effective(&cmd, &applied, &levels(&matches), None);
    let shown = format!(
        "{}\n{}",
        render_toml(&f, &entries),
        render_json(&f, &entries, &[])
    );
    for secret in ["hunter2", "s3cr3t-value", "topsecret"] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    let secret_entry = entries
        .iter()
        .find(|e| e.command == "sync" && e.key == "client-secret")
        .unwrap();
    assert_eq!(secret_entry.source, Source::File);
    assert_eq!(secret_entry.values, ["********"]);
    // `--help` shows defaults: not the file's secrets.
    for sub in ["sync", "serve"] {
        let mut c = cmd.clone();
        c.build();
        let help = c
            .find_subcommand_mut(sub)
            .unwrap()
            .render_long_help()
            .to_string();
        for secret in ["hunter2", "s3cr3t-value", "topsecret"] {
            assert!(!help.contains(secret), "{sub} --help shows {secret}");
        }
    }
}

#[test]
fn the_effective_configuration_is_itself_a_valid_file() {
    let f =
        file("[serve]\nlisten = \"127.0.0.1:9009\"\njwt-issuer = [\"https://a\"]\nfake = true\n");
    let (cmd, applied) = apply(Cli::command(), &f);
    let matches = cmd
        .clone()
        .try_get_matches_from(["callrecords", "config", "check"])
        .unwrap();
    let entries = effective(&cmd, &applied, &levels(&matches), None);
    let listen = entries
        .iter()
        .find(|e| e.command == "serve" && e.key == "listen")
        .unwrap();
    assert_eq!(
        (listen.values.as_slice(), listen.source),
        (&["127.0.0.1:9009".to_string()][..], Source::File)
    );
    assert_eq!(listen.env, "CALLRECORDS_LISTEN");
    let rate = entries
        .iter()
        .find(|e| e.command == "serve" && e.key == "rate")
        .unwrap();
    assert_eq!(
        (rate.source, rate.env.as_str()),
        (Source::Default, "CALLRECORDS_SERVE_RATE")
    );
    let text = render_toml(&f, &entries);
    let again = file(&text);
    let (cmd2, applied2) = apply(Cli::command(), &again);
    assert!(
        applied2.problems.is_empty(),
        "{:?}\n{text}",
        applied2.problems
    );
    let m = cmd2.try_get_matches_from(["callrecords", "serve"]).unwrap();
    let serve = m.subcommand_matches("serve").unwrap();
    assert_eq!(
        serve.get_one::<SocketAddr>("listen"),
        Some(&"127.0.0.1:9009".parse().unwrap())
    );
    assert_eq!(serve.get_one::<bool>("enabled"), Some(&true));
}

#[test]
fn the_example_of_the_documentation_is_a_valid_file() {
    let text = include_str!("../../../../docs/configuration.md");
    let example = text
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/configuration.md has a ```toml example");
    let (cmd, applied) = configured(example);
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    assert!(applied.from_file.len() > 10);
    let m = cmd.try_get_matches_from(["callrecords", "serve"]).unwrap();
    assert_eq!(
        m.subcommand_matches("serve")
            .unwrap()
            .get_one::<SocketAddr>("listen"),
        Some(&"0.0.0.0:8443".parse().unwrap())
    );
}

#[test]
fn an_explicit_flag_displaces_a_file_value_it_conflicts_with() {
    let text = "[sync]\nclient-secret = \"s\"\n[serve]\njwks-url = \"https://idp/keys\"\n";
    let parse_resolved = |argv: &[&str]| {
        let (cmd, mut applied) = configured(text);
        let argv: Vec<OsString> = std::iter::once("callrecords")
            .chain(argv.iter().copied())
            .map(OsString::from)
            .collect();
        let cmd = resolve_conflicts(cmd, &mut applied, &argv);
        (cmd.try_get_matches_from(&argv).unwrap(), applied)
    };
    let (m, applied) = parse_resolved(&["sync", "--certificate", "app.pem"]);
    let sync = m.subcommand_matches("sync").unwrap();
    assert!(sync.get_raw("client_secret").is_none());
    assert!(!applied.in_file(&["sync"], "client_secret"));
    // Without the conflicting flag the file's value stays.
    let (m, applied) = parse_resolved(&["sync", "--tenant", "t"]);
    assert!(
        m.subcommand_matches("sync")
            .unwrap()
            .get_raw("client_secret")
            .is_some()
    );
    assert!(applied.in_file(&["sync"], "client_secret"));
    let (m, _) = parse_resolved(&["serve", "--jwks-file", "keys.json"]);
    let serve = m.subcommand_matches("serve").unwrap();
    assert!(serve.get_raw("jwks_url").is_none());
    assert_eq!(
        serve.get_one::<PathBuf>("jwks_file"),
        Some(&PathBuf::from("keys.json"))
    );
}
