//! A plain command component: the host must refuse it as "not a piece".
fn main() {
    println!("I am not a ThinkFleet piece");
}
