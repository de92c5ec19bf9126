"""Chats and their message trees."""
