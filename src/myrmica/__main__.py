from myrmica.cli.main import main

main()
