//! One error type for the whole core. Every failure a user can cause is a
//! value of this type, never a panic; the bindings map each kind to the
//! Python exception PyTorch would raise (see DESIGN "Errors, never crashes").

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Wrong shapes, sizes or states: Python `RuntimeError` (as torch).
    Runtime,
    /// Wrong argument values: Python `ValueError`.
    Value,
    /// Wrong dtype or argument type: Python `TypeError`.
    Type,
    /// Index or dim out of range: Python `IndexError`.
    Index,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn runtime(msg: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Runtime, msg: msg.into() }
    }
    pub fn value(msg: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Value, msg: msg.into() }
    }
    pub fn type_(msg: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Type, msg: msg.into() }
    }
    pub fn index(msg: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Index, msg: msg.into() }
    }
}

/// `bail!(runtime, "fmt", args)` returns early with an error of that kind.
#[macro_export]
macro_rules! bail {
    ($kind:ident, $($arg:tt)*) => {
        return Err($crate::error::Error::$kind(format!($($arg)*)))
    };
}
