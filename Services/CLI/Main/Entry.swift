import GreenlightCLI

@main
enum Entry {
    static func main() async {
        await GreenlightCommand.main()
    }
}
