//! End-to-end tests of shiplap live in `tests/`; this library is empty.
