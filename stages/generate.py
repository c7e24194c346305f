"""DVC stage `generate`: write the sample data-warehouse export (history + incoming batches)."""

from creditrisk.params import load_params, section
from creditrisk.data.synthetic import write_sample_export, GenerateParams


def main() -> None:
    params = section(load_params(), "generate", GenerateParams)
    print(write_sample_export(params).one_line())


if __name__ == "__main__":
    main()
