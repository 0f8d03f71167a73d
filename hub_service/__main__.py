"""``python -m hub_service --config jupyterhub_config.py``"""

from .app import SubmarineService


def main(argv=None):
    SubmarineService.launch_instance(argv)


if __name__ == "__main__":
    main()
