"""Every table of the app, imported in one place so Alembic and tests see the whole schema."""

from agents.models import Nurse, PresenceChange
from calls.models import Call, CallEvent
from catalog.store import CareUnitRow
from config.store import ConfigVersion
from identity.models import ApiToken, CareProvider, CareProviderRegion, LoginSession, Region, User, UserRegion
from journal.models import JournalAccess, JournalNote, JournalNoteVersion
from routing.crisis_models import CrisisChange
from sms.models import SmsMessage
from webrtc.models import MediaAccess, MediaImage, MediaLink

__all__ = ["ApiToken", "Call", "CallEvent", "CareUnitRow", "CareProvider", "CareProviderRegion", "ConfigVersion", "CrisisChange", "JournalAccess", "JournalNote", "JournalNoteVersion", "LoginSession", "MediaAccess", "MediaImage", "MediaLink", "Nurse", "PresenceChange", "Region", "SmsMessage", "User", "UserRegion"]
