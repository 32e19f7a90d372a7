//! Examples live in the workspace examples/ folder.
