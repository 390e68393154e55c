//! Program statistics (being written).
