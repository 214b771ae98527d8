"""`python -m relay`: the same command line as the `relay` console script."""

from relay.cli.main import main

if __name__ == "__main__":
    main()
