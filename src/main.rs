//! The fieldsync command line: argument parsing only; every command calls into the library.

fn main() {
    println!("fieldsync: not yet usable, see README.md");
}
