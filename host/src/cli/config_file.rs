//! The optional TOML configuration file: `--config FILE` (`THINKFLEET_CONFIG`).
//!
//! One precedence rule for every setting of every command: a flag wins over its
//! environment variable, which wins over the file, which wins over the default.
//!
//! The file's keys are the flags' long names (`database-url`, or `database_url`); a
//! value is a string, a number, a boolean (a switch: `true` sets it) or an array (a
//! repeatable flag, e.g. `outbound-override`). One file serves every command: a key
//! that the command being run does not take is left alone, but a key that no command
//! takes is an error, so a typo does not pass silently.
//!
//! The file's settings become flags added to the arguments clap parses — only for the
//! settings given neither as a flag nor in the environment — so clap checks them as it
//! checks flags (types, choices) and `--help` stays the one list of settings. The added
//! flags exist only in the parser's input, never in the process's command line, so a
//! secret in the file (keep it 0600) does not show in the process list.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The flag and variable that name the file.
const FLAG: &str = "config";
const VARIABLE: &str = "THINKFLEET_CONFIG";

/// `args` (the program name first) with the configuration file's settings added, for
/// `command` (the whole CLI); `env` reads the environment. No file named: `args` as is.
pub fn with_config(
    args: Vec<OsString>,
    command: &clap::Command,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<OsString>, String> {
    let Some(path) = named_file(&args, env) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("configuration file {}: {e}", path.display()))?;
    // The parser's own message quotes the line it failed on, which may hold a secret:
    // only the position and what was wrong are reported.
    let table: toml::Table = toml::from_str(&text).map_err(|e: toml::de::Error| {
        let at = e.span().map_or(String::new(), |s| {
            let before = &text.as_bytes()[..s.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            format!(", line {line}")
        });
        format!("configuration file {}{at}: {}", path.display(), e.message())
    })?;
    let mut command = command.clone();
    command.build();
    let leaf = leaf_command(&command, &args);
    let mut added = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        if long == FLAG {
            return Err(format!(
                "configuration file {}: `{key}` cannot name another file",
                path.display()
            ));
        }
        let Some(arg) = leaf.get_arguments().find(|a| a.get_long() == Some(&long)) else {
            if takes_anywhere(&command, &long) {
                continue;
            }
            return Err(format!(
                "configuration file {}: unknown setting `{key}` (settings are the flags' long \
                 names; `thinkfleet COMMAND --help` lists them)",
                path.display()
            ));
        };
        if given_as_flag(&args, &long) || in_environment(arg, env) {
            continue;
        }
        added.extend(
            flags(&long, arg, value)
                .map_err(|e| format!("configuration file {}: `{key}`: {e}", path.display()))?,
        );
    }
    warn_if_open_to_others(&path, &table);
    // Before a `--`, after which everything is positional.
    let mut args = args;
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    args.splice(at..at, added);
    Ok(args)
}

/// The file `--config FILE`, `--config=FILE` or the variable names.
fn named_file(args: &[OsString], env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let flag = format!("--{FLAG}");
    let prefix = format!("--{FLAG}=");
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let arg = arg.to_string_lossy();
        if arg == flag {
            return iter.next().map(PathBuf::from);
        }
        if let Some(file) = arg.strip_prefix(&prefix) {
            return Some(PathBuf::from(file));
        }
    }
    env(VARIABLE)
        .filter(|v| !v.trim().is_empty())
        .map(PathBuf::from)
}

/// The (sub)command `args` run: the deepest subcommand named in them (an option's
/// value, as in `--config serve`, is not taken for one).
fn leaf_command<'a>(command: &'a clap::Command, args: &[OsString]) -> &'a clap::Command {
    let mut current = command;
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let takes_value = !long.contains('=')
                && current
                    .get_arguments()
                    .find(|a| a.get_long() == Some(long))
                    .is_some_and(|a| a.get_action().takes_values());
            if takes_value {
                iter.next();
            }
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        if let Some(sub) = current.find_subcommand(arg.as_ref()) {
            current = sub;
        }
    }
    current
}

/// Whether any command of the CLI takes `--long`.
fn takes_anywhere(command: &clap::Command, long: &str) -> bool {
    command.get_arguments().any(|a| a.get_long() == Some(long))
        || command
            .get_subcommands()
            .any(|sub| takes_anywhere(sub, long))
}

fn given_as_flag(args: &[OsString], long: &str) -> bool {
    let flag = format!("--{long}");
    let prefix = format!("--{long}=");
    args.iter().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&prefix)
    })
}

fn in_environment(arg: &clap::Arg, env: &dyn Fn(&str) -> Option<String>) -> bool {
    arg.get_env()
        .and_then(|name| name.to_str())
        .and_then(env)
        .is_some()
}

/// The flags a file value stands for.
fn flags(long: &str, arg: &clap::Arg, value: &toml::Value) -> Result<Vec<OsString>, String> {
    let switch = !arg.get_action().takes_values();
    // `--long=value`, so a value starting with `-` is never read as a flag.
    let with = |value: String| vec![OsString::from(format!("--{long}={value}"))];
    let one = |v: &toml::Value| -> Result<Vec<OsString>, String> {
        match v {
            toml::Value::Boolean(true) if switch => Ok(vec![OsString::from(format!("--{long}"))]),
            toml::Value::Boolean(false) if switch => Ok(Vec::new()),
            _ if switch => Err("a switch takes true or false".into()),
            toml::Value::String(s) => Ok(with(s.clone())),
            toml::Value::Integer(n) => Ok(with(n.to_string())),
            toml::Value::Float(n) => Ok(with(n.to_string())),
            toml::Value::Boolean(b) => Ok(with(b.to_string())),
            _ => Err("expected a string, a number or a boolean".into()),
        }
    };
    match value {
        toml::Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(one(item)?);
            }
            Ok(out)
        }
        v => one(v),
    }
}

/// Settings whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "encryption-key",
    "previous-encryption-keys",
    "admin-token",
    "metrics-token",
    "database-url",
    "to",
];

/// A file holding a secret that others can read gets a warning (the value never
/// printed), as the key file does.
fn warn_if_open_to_others(path: &Path, table: &toml::Table) {
    use std::os::unix::fs::PermissionsExt as _;
    let holds_secret = table
        .keys()
        .any(|k| SECRET_KEYS.contains(&k.replace('_', "-").as_str()));
    let open = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
    if holds_secret && open {
        eprintln!(
            "warning: the configuration file {} holds secrets and others can read it; \
             chmod 600 it",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory as _, Parser as _};
    use std::collections::HashMap;

    fn run(args: &[&str], file: &str, env: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("thinkfleet.toml");
        std::fs::write(&path, file).expect("write");
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        argv.extend([OsString::from("--config"), path.clone().into()]);
        let out = with_config(argv, &crate::cli::Cli::command(), &|k| env.get(k).cloned())?;
        Ok(out
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect())
    }

    #[test]
    fn a_flag_beats_the_environment_which_beats_the_file() {
        let file = "listen = \"0.0.0.0:9000\"\npublic_url = \"https://file.example\"\n\
                    admin-token = \"from-file\"\n";
        let args = run(
            &["thinkfleet", "serve", "--listen", "127.0.0.1:1"],
            file,
            &[("THINKFLEET_PUBLIC_URL", "https://env.example")],
        )
        .expect("config");
        assert!(
            !args.iter().any(|a| a.contains("0.0.0.0:9000")),
            "the flag wins: {args:?}"
        );
        assert!(
            !args.iter().any(|a| a.contains("file.example")),
            "the variable wins"
        );
        assert!(
            args.contains(&"--admin-token=from-file".to_owned()),
            "{args:?}"
        );
        let parsed = crate::cli::Cli::try_parse_from(&args).expect("clap accepts it");
        assert!(format!("{parsed:?}").contains("127.0.0.1:1"));
    }

    #[test]
    fn switches_numbers_and_lists_become_flags_clap_checks() {
        let file = "allow_private_networks = true\nmax-concurrent-calls = 8\n\
                    outbound-override = [\"a.test=http://127.0.0.1:1\", \"b.test=http://127.0.0.1:2\"]\n";
        let args = run(&["thinkfleet", "serve"], file, &[]).expect("config");
        assert!(args.contains(&"--allow-private-networks".to_owned()));
        let overrides = args
            .iter()
            .filter(|a| a.starts_with("--outbound-override="))
            .count();
        assert_eq!(overrides, 2);
        crate::cli::Cli::try_parse_from(&args).expect("clap accepts it");
        let bad = run(
            &["thinkfleet", "serve"],
            "max-concurrent-calls = \"many\"\n",
            &[],
        )
        .expect("added");
        assert!(
            crate::cli::Cli::try_parse_from(&bad).is_err(),
            "clap checks the type"
        );
    }

    #[test]
    fn a_key_no_command_takes_is_an_error_and_another_commands_key_is_left_alone() {
        let err = run(&["thinkfleet", "serve"], "databse-url = \"x\"\n", &[]).expect_err("a typo");
        assert!(err.contains("unknown setting `databse-url`"), "{err}");
        // `listen` is serve's; `piece list` ignores it.
        let args = run(
            &["thinkfleet", "piece", "list"],
            "listen = \"127.0.0.1:1\"\ndata-dir = \"/srv/tf\"\n",
            &[],
        )
        .expect("config");
        assert!(!args.iter().any(|a| a.starts_with("--listen")));
        assert!(args.contains(&"--data-dir=/srv/tf".to_owned()));
        crate::cli::Cli::try_parse_from(&args).expect("clap accepts it");
    }

    #[test]
    fn a_broken_file_is_reported_by_line_without_quoting_it() {
        let file = "listen = \"x\"\nadmin-token = \"s3cret-planted\n";
        let err = run(&["thinkfleet", "serve"], file, &[]).expect_err("unterminated string");
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("s3cret-planted"), "{err}");
    }

    #[test]
    fn a_value_starting_with_a_dash_stays_a_value_and_flags_go_before_dashes() {
        let args = run(
            &["thinkfleet", "serve"],
            "admin-token = \"-Zx9-planted\"\n",
            &[],
        )
        .expect("config");
        crate::cli::Cli::try_parse_from(&args).expect("clap reads it as the value");
        // `--log-format text` then `serve`: the file's `listen` applies to serve, and
        // goes before a `--`.
        let args = run(
            &["thinkfleet", "--log-format", "text", "serve", "--"],
            "listen = \"127.0.0.1:7\"\n",
            &[],
        )
        .expect("config");
        let dashes = args.iter().position(|a| a == "--").expect("kept");
        let listen = args
            .iter()
            .position(|a| a == "--listen=127.0.0.1:7")
            .expect("added");
        assert!(listen < dashes, "{args:?}");
    }

    #[test]
    fn no_file_named_leaves_the_arguments_alone() {
        let argv: Vec<OsString> = ["thinkfleet", "serve"].iter().map(OsString::from).collect();
        let out = with_config(argv.clone(), &crate::cli::Cli::command(), &|_| None).expect("ok");
        assert_eq!(out, argv);
    }
}
