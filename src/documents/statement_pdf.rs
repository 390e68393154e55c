//! Statement PDF (being written).
