//! The weavy connector (being written).
