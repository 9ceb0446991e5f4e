from postmix.cli import main

main()
