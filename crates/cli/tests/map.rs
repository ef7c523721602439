//! Black-box tests of `crosswalk map`: the real binary, files in a temporary directory, and
//! JSON on standard input.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A temporary directory holding the expression (and bindings) files of one test.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Files {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("writing a test file");
        path
    }
}

fn crosswalk_map(args: &[&std::ffi::OsStr], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crosswalk"))
        .arg("map")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting crosswalk");
    // A run that fails before reading its input (a missing expression file) may close stdin
    // first: a broken pipe is then expected, not a failure.
    if let Err(error) = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
    {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {error}"
        );
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("waiting for crosswalk");
    Run {
        code: status.code().expect("exit code"),
        stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
    }
}

fn map_expr(expr: &str, stdin: &str) -> Run {
    let files = Files::new();
    let path = files.write("mapping.jsonata", expr);
    crosswalk_map(&["--expr".as_ref(), path.as_os_str()], stdin)
}

#[test]
fn maps_a_document_to_one_line_of_json() {
    let run = map_expr(
        "{ 'name': FirstName & ' ' & LastName, 'created_at': $parseDate(CreatedDate) }",
        r#"{"FirstName": "Ada", "LastName": "Lovelace", "CreatedDate": "2024-01-15T10:20:30.000+0000"}"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "{\"name\":\"Ada Lovelace\",\"created_at\":\"2024-01-15T10:20:30Z\"}\n"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn binds_variables_from_a_bindings_file() {
    let files = Files::new();
    let expr = files.write("m.jsonata", "$prefix & name & $count");
    let bindings = files.write("b.json", r#"{"prefix": "Dr. ", "count": 2}"#);
    let run = crosswalk_map(
        &[
            "--expr".as_ref(),
            expr.as_os_str(),
            "--bindings".as_ref(),
            bindings.as_os_str(),
        ],
        r#"{"name": "Ada"}"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "\"Dr. Ada2\"\n");
}

#[test]
fn bindings_that_are_not_an_object_are_refused() {
    let files = Files::new();
    let expr = files.write("m.jsonata", "1");
    let bindings = files.write("b.json", "[1, 2]");
    let run = crosswalk_map(
        &[
            "--expr".as_ref(),
            expr.as_os_str(),
            "--bindings".as_ref(),
            bindings.as_os_str(),
        ],
        "",
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("b.json"), "{}", run.stderr);
    assert!(
        run.stderr.contains("must hold a JSON object"),
        "{}",
        run.stderr
    );
}

#[test]
fn empty_stdin_is_undefined_input() {
    let run = map_expr("$exists($) ? 'input' : 'no input'", "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "\"no input\"\n");
}

#[test]
fn undefined_result_prints_nothing() {
    let run = map_expr("missing", r#"{"present": 1}"#);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn syntax_error_reports_code_and_position() {
    let run = map_expr("(1 + 2]", "{}");
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.starts_with("error: S0202 at position 7: "),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn evaluation_error_reports_code_and_position() {
    let run = map_expr("a + 1", r#"{"a": "text"}"#);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.starts_with("error: T2001 at position"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_expression_file_is_named() {
    let files = Files::new();
    let missing = files.dir.path().join("nope.jsonata");
    let run = crosswalk_map(&["--expr".as_ref(), missing.as_os_str()], "{}");
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("nope.jsonata"), "{}", run.stderr);
}

#[test]
fn stdin_that_is_not_json_is_refused() {
    let run = map_expr("a", "{not json");
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("standard input is not a JSON document"),
        "{}",
        run.stderr
    );
}

#[test]
fn lines_maps_each_line_and_skips_blank_ones() {
    let files = Files::new();
    let expr = files.write("m.jsonata", "$uppercase(name)");
    let run = crosswalk_map(
        &["--expr".as_ref(), expr.as_os_str(), "--lines".as_ref()],
        "{\"name\": \"ada\"}\n\n   \n{\"name\": \"grace\"}\n{\"other\": 1}\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "\"ADA\"\n\"GRACE\"\n");
    assert_eq!(run.stderr, "");
}

#[test]
fn lines_reports_failing_lines_and_goes_on() {
    let files = Files::new();
    let expr = files.write("m.jsonata", "n * 2");
    let run = crosswalk_map(
        &["--expr".as_ref(), expr.as_os_str(), "--lines".as_ref()],
        "{\"n\": 1}\n{broken\n{\"n\": \"x\"}\n{\"n\": 3}",
    );
    assert_ne!(run.code, 0);
    assert_eq!(run.stdout, "2\n6\n");
    let errors: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(errors.len(), 2, "{}", run.stderr);
    assert!(
        errors[0].starts_with("line 2: not a JSON document"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("line 3: T2001 at position"),
        "{}",
        errors[1]
    );
}

/// The abuses of issue 13 through `crosswalk map`, each on its own and on every line of a
/// stream: each stops at its limit, with an error naming the limit, and `--lines` goes on with
/// the next line.
#[test]
fn abuses_stop_at_their_limit_naming_it() {
    for (expr, limit) in [
        ("$distinct([1..120000])", "max_items"),
        ("($x := $count($distinct([1..40000])); $x + 1)", "max_items"),
        ("$zip([1..10000000], [1..10000000])", "max_items"),
        ("$sum([1..10000000])", "max_items"),
    ] {
        let run = map_expr(expr, "{}");
        assert_ne!(run.code, 0, "{expr}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{expr}: {}", run.stdout);
        assert!(
            run.stderr.contains("D1014") && run.stderr.contains(limit),
            "{expr}: {}",
            run.stderr
        );

        let files = Files::new();
        let path = files.write("mapping.jsonata", &format!("n = 2 ? {expr} : n"));
        let run = crosswalk_map(
            &["--expr".as_ref(), path.as_os_str(), "--lines".as_ref()],
            "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n",
        );
        assert_ne!(run.code, 0, "{expr}: a failed line fails the run");
        assert_eq!(run.stdout, "1\n3\n", "{expr}: the other lines are mapped");
        assert!(run.stderr.contains(limit), "{expr}: {}", run.stderr);
    }
}
