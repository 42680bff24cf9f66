from events.catalogue import write

for path in write():
    print(path)
