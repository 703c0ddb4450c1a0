//! The Mautic connector (being written).
