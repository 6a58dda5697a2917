from infotrack.cli import main

main()
