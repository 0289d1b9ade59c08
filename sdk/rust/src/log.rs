//! The function's log: records in the host's log, tagged with the function and the trace id.
//! (Lines written to stderr become records too, always at info level.)

use crate::abi;

/// A record's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// Write a record (the host keeps the first 4096 bytes of a message).
pub fn write(level: Level, message: &str) {
    let bytes = message.as_bytes();
    unsafe { abi::log(level as i32, abi::address(bytes), abi::length(bytes)) }
}

pub fn debug(message: &str) {
    write(Level::Debug, message)
}

pub fn info(message: &str) {
    write(Level::Info, message)
}

pub fn warn(message: &str) {
    write(Level::Warn, message)
}

pub fn error(message: &str) {
    write(Level::Error, message)
}
