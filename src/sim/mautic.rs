//! The Mautic simulator (being written).
