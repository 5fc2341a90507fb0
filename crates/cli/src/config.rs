//! `callrecords.toml`: defaults → file → environment → flags, for every flag of every command, and
//! `callrecords config check`.
//!
//! Nothing here knows a particular flag. Before parsing, [`apply`] walks the `clap::Command` tree and
//! for every flag (every argument with a long name, positionals aside):
//!
//! * gives it an environment variable unless it declares one (`env = ...` in the derive):
//!   `CALLRECORDS_<FLAG>` for the global flags, `CALLRECORDS_<COMMAND>_<FLAG>` otherwise
//!   (`CALLRECORDS_SERVE_MAX_CONNECTIONS`, `CALLRECORDS_QUALITY_REBUILD_DATA`), so two commands'
//!   flags of the same name but different meaning never share a variable;
//! * turns the file's value for it, when there is one, into the flag's default value. clap then
//!   does the rest: a flag on the command line beats the environment, which beats a default.
//!
//! The file: top-level keys apply to every command (global flags such as `log-format`, or a flag
//! several commands share such as `database-url`); a table per command (`[serve]`,
//! `[quality.rebuild]`) applies to that command and its subcommands and overrides what is above it.
//! Keys are the long flag names. A key no command in its scope has, or a value the flag does not
//! accept, is a problem naming the key and the file: every command refuses to run, and
//! `config check` lists them.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Arg, ArgAction, ArgMatches};
use serde_json::json;
use toml::{Table, Value};

/// The flag naming the file; it cannot itself be set in the file.
pub const FILE_FLAG: &str = "config-file";
/// The file's environment variable.
pub const FILE_ENV: &str = "CALLRECORDS_CONFIG";
/// The file read when neither names one, if it exists.
pub const DEFAULT_FILE: &str = "callrecords.toml";

/// `callrecords config ...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print the effective configuration of every command (value and where it comes from: default,
    /// file, env or flag; secrets masked); exit 1 when the file has unknown keys or bad values.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// One JSON document instead of TOML.
    #[arg(long)]
    json: bool,
    /// A command line to check instead of every command (after `--`): only its commands are shown,
    /// its flags as `flag` (`config check -- serve --listen 0.0.0.0:8443`).
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// The configuration file, read and parsed.
#[derive(Debug, Default)]
pub struct File {
    /// Where it was read from (`None`: no file).
    pub path: Option<PathBuf>,
    table: Table,
}

impl File {
    /// The file the command line names (`--config-file FILE`), else `CALLRECORDS_CONFIG` (empty: no
    /// file), else `./callrecords.toml` if it exists. A file named explicitly must exist.
    pub fn locate(argv: &[OsString]) -> anyhow::Result<Self> {
        let named = scan_flag(argv).or_else(|| std::env::var_os(FILE_ENV));
        let path = match named {
            Some(p) if p.is_empty() => return Ok(File::default()),
            Some(p) => PathBuf::from(p),
            None => {
                let p = PathBuf::from(DEFAULT_FILE);
                if !p.is_file() {
                    return Ok(File::default());
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the configuration file {}", path.display()))?;
        Self::parse(&path, &text)
    }

    /// The file `path` holding `text`.
    pub fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        let table: Table = toml::from_str(text)
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        Ok(File {
            path: Some(path.to_path_buf()),
            table,
        })
    }

    fn name(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "(no file)".into(), |p| p.display().to_string())
    }
}

/// `--config-file FILE` / `--config-file=FILE` on the command line (before any `--`). Needed before
/// clap parses, since the file supplies clap's defaults.
fn scan_flag(argv: &[OsString]) -> Option<OsString> {
    let long = format!("--{FILE_FLAG}");
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        if s == long {
            return it.next().cloned();
        }
        if let Some(v) = s.strip_prefix(&format!("{long}=")) {
            return Some(v.into());
        }
    }
    None
}

/// What [`apply`] did: the values taken from the file, and the file's problems.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    /// (command path joined with spaces, arg id) → the file's values, with the table they came from.
    pub from_file: BTreeMap<(String, String), (Vec<String>, String)>,
    /// The built-in defaults the file's values replaced (for [`resolve_conflicts`]).
    builtin: BTreeMap<(String, String), Vec<OsString>>,
    /// Unknown keys and bad values, each naming the key, its table and the file.
    pub problems: Vec<String>,
}

impl Applied {
    /// Whether the file set `id` of the command at `path`.
    pub fn in_file(&self, path: &[&str], id: &str) -> bool {
        self.from_file
            .contains_key(&(path.join(" "), id.to_string()))
    }
}

/// Whether `arg` is a flag the configuration covers: every argument with a long name but `--help`,
/// `--version` and `--config-file`.
pub fn configurable(arg: &Arg) -> bool {
    !arg.is_positional()
        && arg.get_long().is_some_and(|l| l != FILE_FLAG)
        && !matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        )
}

/// The environment variable a flag gets when it declares none.
pub fn env_name(path: &[String], long: &str) -> String {
    let mut name = String::from("CALLRECORDS");
    for part in path.iter().map(String::as_str).chain([long]) {
        name.push('_');
        name.push_str(&part.replace('-', "_").to_ascii_uppercase());
    }
    name
}

/// `cmd` with an environment variable on every flag and the file's values as defaults.
pub fn apply(cmd: clap::Command, file: &File) -> (clap::Command, Applied) {
    let mut applied = Applied::default();
    check_keys(&cmd, &file.table, &[], file, &mut applied.problems);
    let cmd = apply_at(cmd, &[], &[&file.table], file, &mut applied);
    (cmd, applied)
}

fn table_label(path: &[String]) -> String {
    if path.is_empty() {
        "the top level".into()
    } else {
        format!("[{}]", path.join("."))
    }
}

/// Unknown keys: a key must be a flag of the command of its table or of one of its subcommands (or
/// a table named after a subcommand).
fn check_keys(
    cmd: &clap::Command,
    table: &Table,
    path: &[String],
    file: &File,
    problems: &mut Vec<String>,
) {
    for (key, value) in table {
        let sub = cmd.get_subcommands().find(|s| s.get_name() == key);
        let mut sub_path = path.to_vec();
        sub_path.push(key.clone());
        match (sub, value) {
            (Some(sub), Value::Table(t)) => check_keys(sub, t, &sub_path, file, problems),
            (None, Value::Table(_)) => problems.push(format!(
                "{}: unknown table [{}]: {} has no such subcommand",
                file.name(),
                sub_path.join("."),
                if path.is_empty() {
                    "callrecords".to_string()
                } else {
                    format!("`{}`", path.join(" "))
                }
            )),
            _ if key == FILE_FLAG => problems.push(format!(
                "{}: `{key}` in {} cannot be set in the file itself (use --{FILE_FLAG} or {FILE_ENV})",
                file.name(),
                table_label(path)
            )),
            _ if has_flag(cmd, key) => {}
            (Some(_), _) => problems.push(format!(
                "{}: `{key}` in {} is a command: its settings go in a table, [{}]",
                file.name(),
                table_label(path),
                sub_path.join(".")
            )),
            (None, _) => {
                let scope = if path.is_empty() {
                    "no command has a flag".to_string()
                } else if cmd.has_subcommands() {
                    format!("neither `{}` nor its subcommands have a flag", path.join(" "))
                } else {
                    format!("`{}` has no flag", path.join(" "))
                };
                problems.push(format!(
                    "{}: unknown key `{key}` in {}: {scope} --{key}",
                    file.name(),
                    table_label(path)
                ));
            }
        }
    }
}

/// Whether `cmd` or a command below it has the configurable flag `--long`.
fn has_flag(cmd: &clap::Command, long: &str) -> bool {
    cmd.get_arguments()
        .any(|a| configurable(a) && a.get_long() == Some(long))
        || cmd.get_subcommands().any(|s| has_flag(s, long))
}

fn apply_at(
    mut cmd: clap::Command,
    path: &[String],
    tables: &[&Table],
    file: &File,
    applied: &mut Applied,
) -> clap::Command {
    let ids: Vec<String> = cmd
        .get_arguments()
        .filter(|a| configurable(a))
        .map(|a| a.get_id().to_string())
        .collect();
    for id in ids {
        cmd = cmd.mut_arg(&id, |arg| {
            let long = arg.get_long().unwrap_or_default().to_string();
            let mut arg = if arg.get_env().is_none() {
                arg.env(env_name(path, &long))
            } else {
                arg
            };
            let env_masked = arg.get_env().and_then(std::env::var_os).is_some_and(|v| {
                let v = v.to_string_lossy();
                mask_value(&long, &v) != v
            });
            if secret(&long).is_some() || env_masked {
                arg = arg.hide_env_values(true).hide_default_value(true);
            }
            let Some((value, at)) = lookup(tables, &long) else {
                return arg;
            };
            let at = table_label(&path[..at]);
            match file_values(&arg, value) {
                Ok(values) => {
                    // `--help` shows defaults: never a password from the file.
                    if values.iter().any(|v| mask_value(&long, v) != *v) {
                        arg = arg.hide_default_value(true);
                    }
                    let key = (path.join(" "), id.clone());
                    let builtin = arg
                        .get_default_values()
                        .iter()
                        .map(|v| v.to_os_string())
                        .collect();
                    applied.builtin.insert(key.clone(), builtin);
                    applied.from_file.insert(key, (values.clone(), at));
                    arg.default_values(values)
                }
                Err(why) => {
                    let command = if path.is_empty() || at == table_label(path) {
                        String::new()
                    } else {
                        format!(" (for `{}`)", path.join(" "))
                    };
                    applied
                        .problems
                        .push(format!("{}: `{long}` in {at}{command}: {why}", file.name()));
                    arg
                }
            }
        });
    }
    cmd = relax_requires(cmd, path, applied);
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subs {
        let mut sub_path = path.to_vec();
        sub_path.push(name.clone());
        let mut sub_tables = tables.to_vec();
        if let Some(Value::Table(t)) = tables.last().and_then(|t| t.get(&name)) {
            sub_tables.push(t);
        } else {
            // Keep depths aligned with the path: an absent table is an empty one.
            sub_tables.push(empty_table());
        }
        cmd = cmd.mut_subcommand(&name, |sub| {
            apply_at(sub, &sub_path, &sub_tables, file, applied)
        });
    }
    cmd
}

/// clap's `requires` counts only explicit values (flag, environment), never defaults: a flag on the
/// command line that requires one the file sets (`fake = true` in the file, `serve --seed 3`) would
/// be refused. So, in a command where the file set something, each flag's requirements are found by
/// a probe parse with that flag alone, and dropped when the file sets all of them.
fn relax_requires(mut cmd: clap::Command, path: &[String], applied: &Applied) -> clap::Command {
    let key = path.join(" ");
    let set: BTreeSet<String> = applied
        .from_file
        .keys()
        .filter(|(p, _)| *p == key)
        .map(|(_, id)| id.clone())
        .collect();
    if set.is_empty() {
        return cmd;
    }
    let longs: BTreeMap<String, String> = cmd
        .get_arguments()
        .filter_map(|a| Some((a.get_long()?.to_string(), a.get_id().to_string())))
        .collect();
    let candidates: Vec<(String, String, bool)> = cmd
        .get_arguments()
        .filter(|a| configurable(a))
        .map(|a| {
            let switch = matches!(a.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
            (
                a.get_id().to_string(),
                a.get_long().unwrap_or_default().to_string(),
                switch,
            )
        })
        .collect();
    let base = cmd
        .clone()
        .no_binary_name(true)
        .subcommand_required(false)
        .args_conflicts_with_subcommands(false)
        .mut_args(|a| a.required(false).env(None::<&str>));
    for (id, long, switch) in candidates {
        let probe = base.clone().mut_arg(&id, |a| {
            a.value_parser(clap::builder::ValueParser::string())
        });
        let given = if switch {
            format!("--{long}")
        } else {
            format!("--{long}=x")
        };
        let Err(e) = probe.try_get_matches_from([given]) else {
            continue;
        };
        if e.kind() != clap::error::ErrorKind::MissingRequiredArgument {
            continue;
        }
        let Some(clap::error::ContextValue::Strings(missing)) =
            e.get(clap::error::ContextKind::InvalidArg)
        else {
            continue;
        };
        let all_in_file = missing.iter().all(|m| {
            let name = m
                .trim_start_matches('-')
                .split([' ', '='])
                .next()
                .unwrap_or("");
            longs.get(name).is_some_and(|id| set.contains(id))
        });
        if all_in_file && !missing.is_empty() {
            cmd = cmd.mut_arg(&id, |a| {
                a.requires(clap::builder::Resettable::<clap::Id>::Reset)
            });
        }
    }
    cmd
}

/// A flag given explicitly (command line or environment) beats a file value it conflicts with
/// (`sync --certificate` when the file has `client-secret`): clap never sees a conflict with a default,
/// so such a file value would otherwise be used alongside. Parses `argv` with `cmd`; for every file
/// value of the commands on that line that conflicts with an explicit flag (a probe parse with both),
/// puts the built-in default back. Returns the command to parse `argv` with.
pub fn resolve_conflicts(
    mut cmd: clap::Command,
    applied: &mut Applied,
    argv: &[OsString],
) -> clap::Command {
    let Ok(matches) = cmd.clone().try_get_matches_from(argv) else {
        return cmd;
    };
    let mut drop = Vec::new();
    for (path, m) in levels(&matches) {
        let Some(sub) = find_at(&cmd, &path) else {
            continue;
        };
        let explicit: Vec<&Arg> = sub
            .get_arguments()
            .filter(|a| {
                configurable(a)
                    && m.try_get_raw(a.get_id().as_str()).is_ok()
                    && m.value_source(a.get_id().as_str())
                        .is_some_and(|s| s != clap::parser::ValueSource::DefaultValue)
            })
            .collect();
        for f in sub.get_arguments() {
            let key = (path.clone(), f.get_id().to_string());
            if !applied.from_file.contains_key(&key)
                || explicit.iter().any(|e| e.get_id() == f.get_id())
            {
                continue;
            }
            if explicit.iter().any(|e| conflicting(sub, e, f)) {
                drop.push(key);
            }
        }
    }
    for (path, id) in drop {
        let key = (path.clone(), id.clone());
        let builtin = applied.builtin.remove(&key).unwrap_or_default();
        applied.from_file.remove(&key);
        let parts: Vec<String> = path
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        cmd = mut_at(cmd, &parts, &mut |c| {
            c.mut_arg(&id, |a| a.default_values(builtin.clone()))
        });
    }
    cmd
}

/// The command at `path` (space-joined) under `cmd`.
fn find_at<'a>(cmd: &'a clap::Command, path: &str) -> Option<&'a clap::Command> {
    path.split(' ')
        .filter(|p| !p.is_empty())
        .try_fold(cmd, |c, name| c.find_subcommand(name))
}

fn mut_at(
    cmd: clap::Command,
    path: &[String],
    f: &mut dyn FnMut(clap::Command) -> clap::Command,
) -> clap::Command {
    match path.split_first() {
        None => f(cmd),
        Some((first, rest)) => cmd.mut_subcommand(first, |sub| mut_at(sub, rest, f)),
    }
}

/// Whether giving `a` and `b` together is a conflict in `cmd` (a probe parse with only those two).
fn conflicting(cmd: &clap::Command, a: &Arg, b: &Arg) -> bool {
    let given = |x: &Arg| {
        let long = x.get_long().unwrap_or_default();
        if matches!(x.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
            format!("--{long}")
        } else {
            format!("--{long}=x")
        }
    };
    let probe = cmd
        .clone()
        .no_binary_name(true)
        .subcommand_required(false)
        .args_conflicts_with_subcommands(false)
        .mut_args(|x| {
            x.required(false)
                .env(None::<&str>)
                .requires(clap::builder::Resettable::<clap::Id>::Reset)
        })
        .mut_arg(a.get_id(), |x| {
            x.value_parser(clap::builder::ValueParser::string())
        })
        .mut_arg(b.get_id(), |x| {
            x.value_parser(clap::builder::ValueParser::string())
        });
    probe
        .try_get_matches_from([given(a), given(b)])
        .is_err_and(|e| e.kind() == clap::error::ErrorKind::ArgumentConflict)
}

fn empty_table() -> &'static Table {
    static EMPTY: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Table::new)
}

/// The file's value for `--long`: the innermost table that has it, with that table's depth. Tables
/// are never values (no flag takes one): a table named like a flag is a subcommand's, e.g. `[config]`
/// at the top is the `config` command's while `sync --config` is a flag.
fn lookup<'a>(tables: &[&'a Table], long: &str) -> Option<(&'a Value, usize)> {
    (0..tables.len()).rev().find_map(|d| {
        tables[d]
            .get(long)
            .filter(|v| !v.is_table())
            .map(|v| (v, d))
    })
}

/// The file's value as the flag's default values, checked with the flag's own parser.
fn file_values(arg: &Arg, value: &Value) -> Result<Vec<String>, String> {
    let action = arg.get_action();
    if matches!(action, ArgAction::SetTrue | ArgAction::SetFalse) {
        return match value {
            Value::Boolean(b) => Ok(vec![b.to_string()]),
            other => Err(format!(
                "a switch takes true or false, not {}",
                type_name(other)
            )),
        };
    }
    let multi = matches!(action, ArgAction::Append)
        || arg.get_value_delimiter().is_some()
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    let values = match value {
        Value::Array(items) if multi => items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
        Value::Array(_) => return Err("takes one value, not a list".into()),
        other => vec![scalar(other)?],
    };
    for v in &values {
        probe(arg, v)?;
    }
    Ok(values)
}

fn scalar(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Integer(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        Value::Datetime(d) => Ok(d.to_string()),
        other => Err(format!("wants a value, not {}", type_name(other))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

/// Runs `value` through the flag's value parser (and possible values) in a one-flag command.
fn probe(arg: &Arg, value: &str) -> Result<(), String> {
    let probe = Arg::new("value")
        .long("value")
        .action(ArgAction::Set)
        .value_parser(arg.get_value_parser().clone());
    let cmd = clap::Command::new("probe")
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(probe);
    match cmd.try_get_matches_from([format!("--value={value}")]) {
        Ok(_) => Ok(()),
        Err(e) => {
            use clap::error::{ContextKind, ContextValue};
            let reason = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .or_else(|| match e.get(ContextKind::ValidValue) {
                    Some(ContextValue::Strings(v)) => Some(format!("one of {}", v.join(", "))),
                    _ => None,
                })
                .unwrap_or_else(|| e.kind().to_string());
            Err(format!("invalid value {value:?}: {reason}"))
        }
    }
}

/// How a secret flag's value is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// The whole value.
    Whole,
    /// What follows the first `:` (`ID:SECRET`).
    AfterColon,
}

/// Flags whose values are secrets: named here, and any flag whose name says so. Passwords inside
/// URLs are masked in every value ([`mask_value`]); files (tokens, keys) are paths, never read.
const SECRETS: &[(&str, Mask)] = &[
    ("client-secret", Mask::Whole),
    // serve --fake --client ID:SECRET
    ("client", Mask::AfterColon),
];

/// Whether the flag `long` holds a secret, and how it is masked.
pub fn secret(long: &str) -> Option<Mask> {
    if let Some((_, m)) = SECRETS.iter().find(|(n, _)| *n == long) {
        return Some(*m);
    }
    let named = ["secret", "password", "passphrase"]
        .iter()
        .any(|w| long.contains(w))
        || long.ends_with("-token")
        || long.ends_with("signing-key");
    let path = long.ends_with("-file") || long.ends_with("-url");
    (named && !path).then_some(Mask::Whole)
}

const MASK: &str = "********";

/// `value` of the flag `long` as it may be shown.
pub fn mask_value(long: &str, value: &str) -> String {
    match secret(long) {
        Some(Mask::Whole) if !value.is_empty() => MASK.into(),
        Some(Mask::AfterColon) => match value.split_once(':') {
            Some((id, _)) => format!("{id}:{MASK}"),
            None => MASK.into(),
        },
        _ => mask_url_password(value),
    }
}

/// `scheme://user:PASSWORD@host/...?password=PASSWORD` with the passwords masked.
fn mask_url_password(value: &str) -> String {
    let Some(start) = value.find("://").map(|i| i + 3) else {
        return value.to_string();
    };
    let mut out = value.to_string();
    let authority_end = out[start..]
        .find(['/', '?', '#'])
        .map_or(out.len(), |i| start + i);
    if let Some(at) = out[start..authority_end].rfind('@').map(|i| start + i)
        && let Some(colon) = out[start..at].find(':').map(|i| start + i)
    {
        out.replace_range(colon + 1..at, MASK);
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={MASK}"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// Where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The flag's built-in default (or unset).
    Default,
    /// The configuration file.
    File,
    /// The environment variable.
    Env,
    /// The command line.
    Flag,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Env => "env",
            Source::Flag => "flag",
        }
    }
}

/// One line of the effective configuration.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The command path (`serve`, `quality rebuild`; empty for the global flags).
    pub command: String,
    /// The key (long flag name).
    pub key: String,
    /// The values (masked), empty when unset; `switch`: a true/false flag.
    pub values: Vec<String>,
    /// Whether the flag is an on/off switch.
    pub switch: bool,
    /// Whether it takes a list.
    pub list: bool,
    /// Where the value comes from.
    pub source: Source,
    /// Its environment variable.
    pub env: String,
}

/// The command lines [`effective`] reports flags from: each command path (`""`, `"serve"`,
/// `"quality rebuild"`) with the matches of that level.
pub type Lines<'a> = Vec<(String, &'a ArgMatches)>;

/// The levels of `matches`: the root and each subcommand below it, by command path.
pub fn levels(matches: &ArgMatches) -> Lines<'_> {
    let mut out = vec![(String::new(), matches)];
    let mut path = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        path.push(name.to_string());
        out.push((path.join(" "), sub));
        m = sub;
    }
    out
}

/// The effective configuration of every flag of every command of `cmd` (as [`apply`] left it);
/// `lines`: parsed command lines, for the flags given on them; `only`: just these command paths.
pub fn effective(
    cmd: &clap::Command,
    applied: &Applied,
    lines: &Lines<'_>,
    only: Option<&[String]>,
) -> Vec<Entry> {
    let mut out = Vec::new();
    walk(cmd, &[], applied, lines, &mut out);
    if let Some(only) = only {
        out.retain(|e| only.contains(&e.command));
    }
    out
}

fn walk(
    cmd: &clap::Command,
    path: &[String],
    applied: &Applied,
    lines: &Lines<'_>,
    out: &mut Vec<Entry>,
) {
    let here = path.join(" ");
    for arg in cmd.get_arguments().filter(|a| configurable(a)) {
        let long = arg.get_long().unwrap_or_default();
        let id = arg.get_id().as_str();
        let switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        let list = matches!(arg.get_action(), ArgAction::Append);
        let env = arg
            .get_env()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let on_line = lines.iter().find(|(p, m)| {
            *p == here
                && m.try_get_raw(id).is_ok()
                && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        });
        let (values, source) = if let Some((_, matches)) = on_line {
            let raw = matches
                .get_raw(id)
                .map(|r| r.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            (raw, Source::Flag)
        } else if let Some(v) = std::env::var_os(&env) {
            (vec![v.to_string_lossy().into_owned()], Source::Env)
        } else if let Some((v, _)) = applied.from_file.get(&(path.join(" "), id.to_string())) {
            (v.clone(), Source::File)
        } else {
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let defaults = if defaults.is_empty() && switch {
                vec![(matches!(arg.get_action(), ArgAction::SetFalse)).to_string()]
            } else {
                defaults
            };
            (defaults, Source::Default)
        };
        out.push(Entry {
            command: path.join(" "),
            key: long.to_string(),
            values: values.iter().map(|v| mask_value(long, v)).collect(),
            switch,
            list,
            source,
            env,
        });
    }
    for sub in cmd.get_subcommands() {
        let mut sub_path = path.to_vec();
        sub_path.push(sub.get_name().to_string());
        walk(sub, &sub_path, applied, lines, out);
    }
}

fn toml_value(e: &Entry) -> Option<String> {
    // A JSON string is a valid TOML basic string (same escapes).
    let quote = |s: &String| serde_json::Value::String(s.clone()).to_string();
    if e.values.is_empty() && !e.list {
        return None;
    }
    Some(if e.switch {
        e.values.first().cloned().unwrap_or_else(|| "false".into())
    } else if e.list {
        format!(
            "[{}]",
            e.values.iter().map(quote).collect::<Vec<_>>().join(", ")
        )
    } else {
        quote(&e.values[0])
    })
}

/// The effective configuration as a TOML document (valid as a configuration file), each line with
/// its source and environment variable.
pub fn render_toml(file: &File, entries: &[Entry]) -> String {
    let mut out = format!("# configuration file: {}\n", file.name());
    let mut current = None::<&str>;
    for e in entries {
        if current != Some(e.command.as_str()) {
            if !e.command.is_empty() {
                out.push_str(&format!("\n[{}]\n", e.command.replace(' ', ".")));
            }
            current = Some(e.command.as_str());
        }
        let note = format!("# {}, env {}", e.source.as_str(), e.env);
        match toml_value(e) {
            Some(v) => out.push_str(&format!("{} = {v}  {note}\n", e.key)),
            None => out.push_str(&format!("# {} (unset)  {note}\n", e.key)),
        }
    }
    out
}

/// The effective configuration as JSON.
pub fn render_json(file: &File, entries: &[Entry], problems: &[String]) -> serde_json::Value {
    let entries: Vec<_> = entries
        .iter()
        .map(|e| {
            let value = if e.switch {
                json!(e.values.first().is_some_and(|v| v == "true"))
            } else if e.list {
                json!(e.values)
            } else {
                e.values
                    .first()
                    .map_or(serde_json::Value::Null, |v| json!(v))
            };
            json!({
                "command": e.command,
                "key": e.key,
                "value": value,
                "source": e.source.as_str(),
                "env": e.env,
            })
        })
        .collect();
    json!({
        "file": file.path.as_ref().map(|p| p.display().to_string()),
        "entries": entries,
        "problems": problems,
    })
}

/// `callrecords config check`.
pub fn run(
    args: &Args,
    cmd: &clap::Command,
    file: &File,
    applied: &Applied,
    matches: &ArgMatches,
) -> anyhow::Result<ExitCode> {
    let Action::Check(check) = &args.action;
    let mut lines = levels(matches);
    let mut cmd = cmd.clone();
    let mut applied = applied.clone();
    let tail;
    let only = if check.command.is_empty() {
        None
    } else {
        // `config check -- serve --listen ...`: that command line, parsed as it would be run.
        let argv: Vec<OsString> = std::iter::once("callrecords".to_string())
            .chain(check.command.iter().cloned())
            .map(OsString::from)
            .collect();
        cmd = resolve_conflicts(cmd, &mut applied, &argv);
        tail = match cmd.clone().try_get_matches_from(&argv) {
            Ok(m) => m,
            Err(e) => e.exit(),
        };
        let tail_levels = levels(&tail);
        let chain: Vec<String> = tail_levels.iter().map(|(p, _)| p.clone()).collect();
        // The tail's own levels first; a global flag given to `config check` itself still counts.
        lines = tail_levels.into_iter().chain(lines).collect();
        Some(chain)
    };
    let entries = effective(&cmd, &applied, &lines, only.as_deref());
    if check.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render_json(file, &entries, &applied.problems))?
        );
    } else {
        print!("{}", render_toml(file, &entries));
    }
    for p in &applied.problems {
        eprintln!("error: {p}");
    }
    Ok(if applied.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests;
