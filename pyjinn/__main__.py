from pyjinn.cli import main

main()
