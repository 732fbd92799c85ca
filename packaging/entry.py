"""The single-file executable's entry point: the same as the `flextime-exporter` console script."""

from exporters.cli import main

if __name__ == "__main__":
    main()
