from dangqun.cli import main

main()
