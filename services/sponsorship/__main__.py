from services.sponsorship.app import MIGRATIONS, create_app
from services.sponsorship.settings import SponsorshipSettings
from shared.runner import main

main("sponsorship", SponsorshipSettings, create_app, MIGRATIONS)
