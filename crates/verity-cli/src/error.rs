//! One-line errors with an exit code.

/// An error that ends the program: a one-line message and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// The model or the run failed (exit 1).
    pub fn run(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }

    /// A usage error: bad flags, unknown model, unreadable file (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    /// Interrupted by Ctrl-C (exit 130).
    pub fn interrupted() -> Self {
        Self {
            code: 130,
            message: String::new(),
        }
    }
}

/// The message of a Verity error on one line.
pub fn one_line(e: &verity::Error) -> String {
    let s = e.to_string();
    let s = s.strip_prefix("user error: ").unwrap_or(&s);
    let mut out = String::with_capacity(s.len());
    for (i, line) in s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push_str(" | ");
        }
        out.push_str(line);
    }
    if out.chars().count() > 400 {
        out = out.chars().take(400).collect::<String>() + "…";
    }
    out
}

impl From<verity::Error> for CliError {
    fn from(e: verity::Error) -> Self {
        match e {
            verity::Error::User(_) => CliError::usage(one_line(&e)),
            _ => CliError::run(one_line(&e)),
        }
    }
}
