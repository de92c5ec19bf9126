"""Who may read a collection, as SQL, stated once for the REST API (collections.py,
files.py) and the chat path (retrieval.py): its owner, and the members of a group it is
shared with. Plain strings, so the chat path loads nothing for it."""


def readable(owner: str, collection_id: str) -> str:
    """A condition true when the caller owns the row (`owner`, a user id column) or it is
    in a collection (`collection_id`, a column) shared with a group of theirs. Binds two
    `?`, both the caller's user id."""
    return (f"({owner} = ? OR EXISTS (SELECT 1 FROM collection_groups cg JOIN group_members gm"
            f" ON gm.group_id = cg.group_id WHERE cg.collection_id = {collection_id} AND gm.user_id = ?))")
