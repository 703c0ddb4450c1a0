//! The weavy simulator (being written).
