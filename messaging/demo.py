"""Demo conversations for `manage.py seed_demo`: idempotent, since every message carries a
fixed client_msg_id and a retried id stores nothing new."""

from accounts.models import User
from messaging import services
from messaging.models import Conversation

# (sender, receiver, client_msg_id, content)
DIRECT_MESSAGES = [
    ("khalid@najdfoods.example", "omar@gulfprecision.example", "demo-1",
     "Hello Omar, I read about your vibration monitoring on the CNC spindles. "
     "How long did the rollout take?"),
    ("omar@gulfprecision.example", "khalid@najdfoods.example", "demo-2",
     "Hi Khalid! About **ten weeks**: two for the sensors, the rest tuning the alarm "
     "thresholds so the night shift trusted them."),
    ("khalid@najdfoods.example", "omar@gulfprecision.example", "demo-3",
     "That helps. Did you keep the vendor's dashboard or build your own?"),
    ("fatimah@redseaplastics.example", "sara@gulfprecision.example", "demo-4",
     "Sara, could we visit your line in Jubail next month? We are choosing between two "
     "energy monitoring vendors."),
]  # fmt: skip

GROUP = {
    "title": "Predictive maintenance circle",
    "creator": "sara@gulfprecision.example",
    "members": ["omar@gulfprecision.example", "aisha@najdfoods.example",
                "khalid@najdfoods.example"],
    "messages": [
        ("sara@gulfprecision.example", "demo-g1",
         "Welcome! Let's share what worked (and what did not) with condition monitoring."),
        ("aisha@najdfoods.example", "demo-g2",
         "Thanks Sara. Our first question: how do you handle false alarms in the first month?"),
    ],
}  # fmt: skip


def seed_demo_conversations() -> None:
    people = {u.email: u for u in User.objects.filter(email__endswith=".example")}
    for sender, receiver, client_msg_id, content in DIRECT_MESSAGES:
        services.send_direct_message(
            actor=people[sender],
            receiver_id=people[receiver].pk,
            content=content,
            client_msg_id=client_msg_id,
        )
    creator = people[GROUP["creator"]]
    group = Conversation.objects.filter(created_by=creator, title=GROUP["title"]).first()
    if group is None:
        group = services.create_group_conversation(
            actor=creator,
            title=GROUP["title"],
            participant_ids=[people[email].pk for email in GROUP["members"]],
        )
    for sender, client_msg_id, content in GROUP["messages"]:
        services.send_direct_message(
            actor=people[sender],
            conversation_id=group.pk,
            content=content,
            client_msg_id=client_msg_id,
        )
