fn main() {
    spinel_build::user_program()
}
