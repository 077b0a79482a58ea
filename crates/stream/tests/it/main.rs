//! Integration tests of the frame codec: the indigo fixture frames, and hand-made frames for
//! each rule.

mod fixtures;
mod frames;
mod reseq;
mod util;
