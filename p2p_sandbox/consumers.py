from channels.generic.websocket import AsyncJsonWebsocketConsumer


class HealthConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/health/`: proves the WebSocket path end to end (server, origin check, routing).

    Client {"type": "ping"} -> server {"type": "pong"}; anything else -> {"type": "error"}.
    """

    async def connect(self) -> None:
        await self.accept()

    async def receive_json(self, content: object, **kwargs: object) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "code": "unknown_type"})
