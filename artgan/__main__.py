from artgan.cli import main

main()
