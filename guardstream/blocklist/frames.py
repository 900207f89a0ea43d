"""Carrier sentences for the variant check: live-chat lines with a slot (``{}``) for a phrase.

Two disjoint sets: :data:`TUNING_FRAMES`, which the matcher's rules were tried on while it was
written, and :data:`HELD_OUT_FRAMES`, which the check reports on. A rule that only works because of
the frames it was tuned on shows up as a gap between the two.
"""

from __future__ import annotations

from typing import Final

TUNING_FRAMES: Final = (
    "主播你就是个{}吧",
    "{}，别再说了",
    "哈哈哈{}",
    "楼上{}？",
    "有人知道{}吗",
    "今天直播间怎么全是{}",
    "弹幕里有人刷{}",
    "{}",
    "我真的服了，{}",
    "你看他那样子，{}啊",
    "这种人就是{}",
    "说真的{}了",
    "管理快看，{}",
    "兄弟们{}！！！",
    "别刷了{}",
    "刚进来就看到{}",
    "他私信我说{}",
    "{}这种话也能说？",
    "有没有{}的群",
    "笑死，{}",
)

HELD_OUT_FRAMES: Final = (
    "主播今天{}",
    "{}，我说的对吧",
    "666 {}",
    "评论区那个人{}",
    "大家注意了{}",
    "{}哈哈",
    "刚才弹幕说{}，管管吧",
    "这个up主就是{}",
    "私聊我{}",
    "{}。",
    "有一说一，{}",
    "你们看到那条{}没",
    "谁懂啊{}",
    "真的假的，{}",
    "他在群里发{}",
    "麻了，{}",
    "主播别理他，{}",
    "{}，懂的都懂",
    "我朋友说{}",
    "上次也有人{}",
)

# Ordinary phrases for the benign corpus's plain sentences (no listed term in any of them).
ORDINARY_PHRASES: Final = (
    "唱得真好听",
    "这首歌叫什么名字",
    "主播的猫好可爱",
    "晚上吃火锅",
    "明天要上班了",
    "这局打得漂亮",
    "画质有点糊",
    "点个关注不迷路",
    "求BGM",
    "刚下班回来看直播",
    "这个皮肤多少钱",
    "外面下大雨了",
    "周末一起去爬山",
    "主播声音好温柔",
    "新来的，求科普",
    "这波操作太秀了",
    "网有点卡",
    "弹幕护体",
    "我先去洗个澡",
    "这个游戏叫什么",
    "老板大气",
    "刚才那把太可惜了",
    "我妈叫我吃饭了",
    "明天几点开播",
    "这个口红色号是多少",
    "今天的天气真好",
    "他的字写得很好看",
    "考试终于考完了",
    "给主播点赞",
    "下次再来",
    "这道菜怎么做",
    "我家狗子在旁边睡觉",
    "小朋友别熬夜",
    "这个视频剪得好",
    "主播加油",
    "我也想去旅游",
    "快递今天到了",
    "买了一个新手机",
    "楼下在装修好吵",
    "晚安大家",
)
